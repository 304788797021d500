"""Subscriptions through their services: trial, renewal, month ends, cancel, lapse and resume,
tenant-wide activation, per-tenant plans."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from accounts.models import AuditEntry, Role, Tenant, User
from billing.entitlement import sync_entitlement
from billing.models import LedgerEntry, Subscription
from billing.selectors import balance_of
from billing.services import (
    Outcome,
    due_subscription_ids,
    renewals_run,
    subscription_cancel,
    subscription_purchase,
    subscription_renew,
    tenant_activate,
)
from billing.tasks import renew_subscriptions
from tests.billing.conftest import AMS, NOW, grant, link_for, paused, set_plan
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def buy(admin: User, user: User, now: datetime = NOW) -> Subscription:
    assert admin.tenant is not None
    return subscription_purchase(tenant=admin.tenant, user=user, actor=admin, now=now)


def renew(sub: Subscription, now: datetime) -> Outcome:
    outcome = subscription_renew(subscription_id=sub.pk, now=now)
    sub.refresh_from_db()
    return outcome


def charges(tenant: Tenant) -> list[tuple[str, int]]:
    return list(
        LedgerEntry.objects.filter(tenant=tenant, kind="charge")
        .order_by("created_at", "id")
        .values_list("key", "amount")
    )


# --- purchase and trial --------------------------------------------------------------------------


def test_purchase_starts_a_trial_of_exactly_thirty_days(admin_user: User, staff: User) -> None:
    sub = buy(admin_user, staff)
    assert sub.state == "trial" and sub.scope == "practitioner" and sub.user == staff
    assert sub.started_at == NOW
    assert sub.trial_ends_at == sub.period_end == NOW + timedelta(days=30)
    assert sub.trial_ends_at.astimezone(AMS) == datetime(2026, 12, 21, 10, 0, tzinfo=AMS)
    assert charges(staff.tenant) == []  # type: ignore[arg-type]
    audit = AuditEntry.objects.get(action="billing.purchase")
    assert (audit.actor, audit.tenant, audit.details["user"]) == (
        admin_user,
        staff.tenant,
        staff.pk,
    )
    entitlement = sync_entitlement(staff, now=NOW)
    assert entitlement.allowed and entitlement.code == "trial"
    assert entitlement.until is not None and entitlement.until.isoformat() == "2026-12-21"
    assert "free trial until 21 December 2026" in entitlement.reason


def test_a_trial_is_not_renewed_a_second_early(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    grant(tenant, 100)
    sub = buy(admin_user, staff)
    end = NOW + timedelta(days=30)
    assert renew(sub, end - timedelta(seconds=1)) == Outcome.NOT_DUE
    assert sub.id not in due_subscription_ids(now=end - timedelta(seconds=1))
    assert sub.id in due_subscription_ids(now=end)
    assert renew(sub, end) == Outcome.RENEWED
    assert sub.state == "active"
    assert (sub.period_start, sub.period_end) == (end, datetime(2027, 1, 21, 10, tzinfo=AMS))
    assert charges(tenant) == [(f"renewal:{sub.pk}:2026-12", -25)]
    assert (
        LedgerEntry.objects.get(kind="charge").reason == "CalendarSync for Sam Staff, December 2026"
    )
    assert balance_of(tenant) == 75
    assert renew(sub, end + timedelta(hours=1)) == Outcome.NOT_DUE  # a retry charges nothing
    assert balance_of(tenant) == 75


def test_renewals_follow_the_month_ends(admin_user: User, staff: User, tenant: Tenant) -> None:
    grant(tenant, 1000)
    start = datetime(2027, 1, 1, 10, tzinfo=AMS)  # the trial ends on 31 January
    sub = buy(admin_user, staff, now=start)
    ends = []
    moment = sub.period_end
    for _ in range(5):
        assert renew(sub, moment) == Outcome.RENEWED
        ends.append(sub.period_end.astimezone(AMS).date().isoformat())
        moment = sub.period_end
    assert ends == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30"]
    assert [k for k, _ in charges(tenant)] == [
        f"renewal:{sub.pk}:2027-{m:02d}" for m in range(1, 6)
    ]


def test_leap_year_renewal_lands_on_the_29th(admin_user: User, staff: User, tenant: Tenant) -> None:
    grant(tenant, 100)
    sub = buy(admin_user, staff, now=datetime(2028, 1, 1, 10, tzinfo=AMS))
    renew(sub, sub.period_end)
    assert sub.period_end.astimezone(AMS) == datetime(2028, 2, 29, 10, tzinfo=AMS)


def test_a_missed_month_is_caught_up(admin_user: User, staff: User, tenant: Tenant) -> None:
    grant(tenant, 100)
    sub = buy(admin_user, staff)
    late = sub.period_end + timedelta(days=40)  # beat was down for over a month
    assert renew(sub, late) == Outcome.RENEWED
    assert len(charges(tenant)) == 2 and sub.period_start <= late < sub.period_end


def test_the_trial_is_once_per_practitioner(admin_user: User, staff: User, tenant: Tenant) -> None:
    first = buy(admin_user, staff)
    subscription_cancel(subscription=first, actor=admin_user, now=NOW + timedelta(days=1))
    with pytest.raises(ValidationError, match="Not enough credits"):
        buy(admin_user, staff, now=NOW + timedelta(days=2))
    assert Subscription.objects.filter(user=staff).count() == 1  # the refused one rolled back
    grant(tenant, 30)
    later = NOW + timedelta(days=2)
    second = buy(admin_user, staff, now=later)
    assert second.state == "active" and second.trial_ends_at is None
    assert second.period_end.astimezone(AMS) == datetime(2026, 12, 23, 10, tzinfo=AMS)
    assert charges(tenant) == [(f"renewal:{second.pk}:2026-11", -25)]
    assert balance_of(tenant) == 5


def test_purchase_is_refused_when_it_makes_no_sense(
    admin_user: User, staff: User, outsider: User, tenant: Tenant
) -> None:
    with pytest.raises(ValidationError, match="administrators have no calendar"):
        buy(admin_user, admin_user)
    with pytest.raises(ValidationError, match="staff member of this practice"):
        buy(admin_user, outsider)
    with pytest.raises(ValidationError, match="Only this practice's administrators"):
        subscription_purchase(tenant=tenant, user=staff, actor=staff, now=NOW)
    buy(admin_user, staff)
    with pytest.raises(ValidationError, match="already"):
        buy(admin_user, staff)


# --- cancel --------------------------------------------------------------------------------------


def test_cancel_in_the_trial_ends_it_at_once(admin_user: User, staff: User, tenant: Tenant) -> None:
    grant(tenant, 100)
    sub = buy(admin_user, staff)
    link = link_for(staff)
    when = NOW + timedelta(days=3)
    sub = subscription_cancel(subscription=sub, actor=admin_user, now=when)
    assert (sub.state, sub.cancelled_at, sub.ends_at, sub.closed_at) == (
        "cancelled",
        when,
        when,
        when,
    )
    assert paused(link)
    assert sync_entitlement(staff, now=when).code == "ended"
    assert AuditEntry.objects.filter(action="billing.cancel", actor=admin_user).exists()
    # Nothing is charged when the trial would have ended, and nothing is due.
    assert renewals_run(now=NOW + timedelta(days=31)) == {}
    assert charges(tenant) == []
    with pytest.raises(ValidationError, match="cancelled already"):
        subscription_cancel(subscription=sub, actor=admin_user, now=when)


def test_cancel_in_a_paid_month_runs_to_its_end(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    grant(tenant, 100)
    sub = buy(admin_user, staff)
    renew(sub, sub.period_end)
    month_end = sub.period_end
    link = link_for(staff)
    when = month_end - timedelta(days=10)
    sub = subscription_cancel(subscription=sub, actor=admin_user, now=when)
    assert (sub.state, sub.ends_at, sub.closed_at) == ("cancelled", month_end, None)
    assert not paused(link)
    ending = sync_entitlement(staff, now=when)
    assert ending.allowed and ending.code == "ending"
    assert not sync_entitlement(staff, now=month_end).allowed
    # The renewal run at the end pauses the links and charges nothing more.
    assert renewals_run(now=month_end - timedelta(seconds=1)) == {}
    assert renewals_run(now=month_end) == {"closed": 1}
    assert paused(link)
    assert renewals_run(now=month_end + timedelta(hours=1)) == {}
    assert len(charges(tenant)) == 1 and balance_of(tenant) == 75
    # Buying again while the paid month runs is refused with the date; after it, allowed.
    other = UserFactory(tenant=tenant, role=Role.STAFF)
    assert buy(admin_user, other, now=when).state == "trial"
    with pytest.raises(ValidationError, match="paid until"):
        buy(admin_user, staff, now=when)


# --- lapse and resume ----------------------------------------------------------------------------


def test_short_credits_lapse_and_a_grant_resumes(
    admin_user: User, staff: User, tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    sub = buy(admin_user, staff)
    link = link_for(staff)
    other_link = link_for(UserFactory(tenant=tenant, role=Role.STAFF), account="other")
    grant(tenant, 10)
    end = sub.period_end
    with django_capture_on_commit_callbacks(execute=True):
        assert renewals_run(now=end) == {"lapsed": 1}
    sub.refresh_from_db()
    assert (sub.state, sub.lapsed_at) == ("lapsed", end)
    assert paused(link) and not paused(other_link)
    assert LedgerEntry.objects.filter(tenant=tenant).count() == 1  # nothing was deleted or charged
    assert sorted(m.to[0] for m in mail.outbox) == sorted([admin_user.email, staff.email])
    assert all("not enough credits" in m.subject for m in mail.outbox)
    assert "needed 25 credits and the practice has 10" in mail.outbox[0].body
    entitlement = sync_entitlement(staff, now=end)
    assert not entitlement.allowed and entitlement.code == "lapsed"
    assert "credits ran out on 21 December 2026" in entitlement.reason

    # Still short: nothing happens, and nobody is e-mailed again.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert renewals_run(now=end + timedelta(minutes=15)) == {"still_lapsed": 1}
    assert mail.outbox == [] and paused(link)

    # An operator grants credits; the next run charges a month from now and resumes sync.
    grant(tenant, 40)
    resumed_at = end + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert renewals_run(now=resumed_at) == {"resumed": 1}
    sub.refresh_from_db()
    assert (sub.state, sub.lapsed_at, sub.anchor, sub.period_start) == (
        "active",
        None,
        resumed_at,
        resumed_at,
    )
    assert sub.period_end.astimezone(AMS) == datetime(2027, 1, 24, 10, tzinfo=AMS)
    assert not paused(link)
    assert charges(tenant) == [(f"renewal:{sub.pk}:2026-12", -25)]
    assert balance_of(tenant) == 25
    assert sorted(m.to[0] for m in mail.outbox) == sorted([admin_user.email, staff.email])
    assert all("resumed" in m.subject for m in mail.outbox)
    # And renews normally a month later.
    assert renew(sub, sub.period_end) == Outcome.RENEWED
    assert [k for k, _ in charges(tenant)][-1] == f"renewal:{sub.pk}:2027-01"


def test_cancelling_a_lapsed_subscription_ends_it(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    sub = buy(admin_user, staff)
    renew(sub, sub.period_end)
    assert sub.state == "lapsed"
    sub = subscription_cancel(subscription=sub, actor=admin_user, now=sub.period_end)
    grant(tenant, 100)
    assert renewals_run(now=NOW + timedelta(days=40)) == {}
    assert balance_of(tenant) == 100


# --- tenant-wide activation ----------------------------------------------------------------------


def test_tenant_wide_charges_every_staff_user_and_no_administrator(
    tenant_wide: Tenant, admin_user: User, staff: User, colleague: User
) -> None:
    UserFactory(tenant=tenant_wide, role=Role.ADMIN)  # a second administrator: free
    UserFactory(tenant=tenant_wide, role=Role.STAFF, is_active=False)  # deactivated: free
    grant(tenant_wide, 200)
    sub = tenant_activate(tenant=tenant_wide, actor=admin_user, now=NOW)
    assert (sub.scope, sub.user, sub.state) == ("tenant", None, "trial")
    assert sync_entitlement(staff, now=NOW).allowed and sync_entitlement(colleague, now=NOW).allowed
    assert not sync_entitlement(admin_user, now=NOW).allowed
    # A staff user who joins later is covered, and charged from the next renewal.
    newcomer = UserFactory(tenant=tenant_wide, role=Role.STAFF)
    assert sync_entitlement(newcomer, now=NOW).allowed
    assert renew(sub, sub.period_end) == Outcome.RENEWED
    assert charges(tenant_wide) == [(f"renewal:{sub.pk}:2026-12", -75)]  # 3 staff × 25
    assert "3 × 25 credits" in LedgerEntry.objects.get(kind="charge").reason
    with pytest.raises(ValidationError, match="tenant-wide"):
        buy(admin_user, staff)
    with pytest.raises(ValidationError, match="already"):
        tenant_activate(tenant=tenant_wide, actor=admin_user, now=NOW)


def test_tenant_wide_lapse_pauses_every_staff_user(
    tenant_wide: Tenant, admin_user: User, staff: User, colleague: User
) -> None:
    sub = tenant_activate(tenant=tenant_wide, actor=admin_user, now=NOW)
    links = [link_for(staff), link_for(colleague, account="c")]
    grant(tenant_wide, 30)  # one month of two staff needs 50
    assert renew(sub, sub.period_end) == Outcome.LAPSED
    assert all(paused(link) for link in links)
    grant(tenant_wide, 20)
    assert renew(sub, sub.period_end + timedelta(hours=1)) == Outcome.RESUMED
    assert not any(paused(link) for link in links)
    assert balance_of(tenant_wide) == 0


def test_per_practitioner_tenants_cannot_activate(tenant: Tenant, admin_user: User) -> None:
    with pytest.raises(ValidationError, match="per practitioner"):
        tenant_activate(tenant=tenant, actor=admin_user, now=NOW)


# --- plans ---------------------------------------------------------------------------------------


def test_an_operator_sets_price_and_trial_per_tenant(
    tenant: Tenant, other_tenant: Tenant, admin_user: User, staff: User, outsider: User
) -> None:
    set_plan(tenant, price_credits=10, trial_days=0)
    grant(tenant, 10)
    sub = buy(admin_user, staff)
    assert sub.state == "active" and charges(tenant) == [(f"renewal:{sub.pk}:2026-11", -10)]
    # The other tenant keeps the defaults.
    their_admin = UserFactory(tenant=other_tenant, role=Role.ADMIN)
    theirs = subscription_purchase(tenant=other_tenant, user=outsider, actor=their_admin, now=NOW)
    assert theirs.state == "trial" and theirs.period_end == NOW + timedelta(days=30)


def test_a_seven_day_trial_setting(tenant: Tenant, admin_user: User, staff: User) -> None:
    set_plan(tenant, trial_days=7)
    assert buy(admin_user, staff).period_end == NOW + timedelta(days=7)


# --- the task ------------------------------------------------------------------------------------


def test_the_beat_task_runs_the_renewals(admin_user: User, staff: User, tenant: Tenant) -> None:
    grant(tenant, 100)
    sub = buy(admin_user, staff, now=NOW - timedelta(days=31))
    assert renew_subscriptions.delay().get() == {"renewed": 1}
    assert renew_subscriptions.delay().get() == {}
    sub.refresh_from_db()
    assert sub.state == "active" and balance_of(tenant) == 75


def test_the_renewal_task_is_on_the_beat_schedule() -> None:
    from calsync.celery import app

    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == renew_subscriptions.name]
    assert len(entries) == 1


def test_the_state_machine_refuses_other_moves(admin_user: User, staff: User) -> None:
    from billing.models import TRANSITIONS, InvalidTransitionError

    assert TRANSITIONS["cancelled"] == frozenset()
    assert "trial" not in set().union(*TRANSITIONS.values())  # nothing goes back to a trial
    sub = buy(admin_user, staff)
    sub = subscription_cancel(subscription=sub, actor=admin_user, now=NOW)
    with pytest.raises(InvalidTransitionError):
        sub.move_to("active")
