"""Settings > People: invitations, roles, deactivation and reactivation (issue 15 part 2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.core import mail
from django.test import Client as HttpClient
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Invitation, Role, Tenant, User
from accounts.people import user_deactivate, user_set_role
from agenda.models import Meeting
from billing.models import Subscription, SubscriptionState
from billing.services import credits_grant, subscription_purchase
from calsync.models import CalendarLink, LinkState
from connectors import credentials
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory, make_meeting
from tests.fakes.google import GoogleFake

pytestmark = pytest.mark.django_db
GOOGLE_CALLBACK = "http://testserver/account/calendarsync/google/callback/"


def committed(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call`` with its after-commit work (e-mails) run, as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return call(*args, **kwargs)


def invite(client: HttpClient, email: str, role: str = "staff") -> Any:
    return committed(client.post, reverse("settings_people"), {"email": email, "role": role})


def invitation_link(message: mail.EmailMessage) -> str:
    found = re.search(r"http://testserver(/account/invitation/[^/\s]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


ACCEPT = {
    "full_name": "Ivy Invitee",
    "password1": "ivy's own pass 42",
    "password2": "ivy's own pass 42",
}


# --- invitations ----------------------------------------------------------------------------------


def test_an_invited_practitioner_sets_name_and_password_and_logs_in(
    admin_user: User, tenant: Tenant
) -> None:
    response = invite(login(admin_user), "Ivy@Example.test")
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["ivy@example.test"] and tenant.name in message.subject
    url = invitation_link(message)
    form = HttpClient().get(url).content.decode()
    assert f"Join {tenant.name}" in form and "ivy@example.test" in form
    invitee = HttpClient()
    response = invitee.post(url, ACCEPT)
    assert response.status_code == 302 and response["Location"] == reverse("welcome")
    ivy = User.objects.get(email="ivy@example.test")
    assert (ivy.tenant, ivy.role, ivy.full_name) == (tenant, Role.STAFF, "Ivy Invitee")
    checklist = invitee.get(reverse("welcome")).content.decode()
    assert "Link your calendar" in checklist and "Invite your practitioners" not in checklist
    assert HttpClient().login(username="ivy@example.test", password=ACCEPT["password1"])
    # Single use: the link now says so, and makes no second account.
    again = HttpClient().post(url, {**ACCEPT, "full_name": "Mallory"})
    assert "accepted already" in again.content.decode()
    assert User.objects.filter(email="ivy@example.test").count() == 1
    actions = set(AuditEntry.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"accounts.invite", "accounts.invite_accept"} <= actions


def test_an_address_that_is_a_user_anywhere_gets_one_message(
    admin_user: User, staff: User, outsider: User
) -> None:
    client = login(admin_user)
    mine = invite(client, staff.email).content.decode()
    theirs = invite(client, outsider.email.upper()).content.decode()
    expected = "This address cannot be invited: it belongs to an existing CalSync account."
    assert expected in mine and expected in theirs
    # Nothing in the answer tells which practice the address belongs to.
    assert outsider.tenant is not None and outsider.tenant.name not in theirs
    assert not Invitation.objects.exists() and mail.outbox == []


def test_resend_replaces_the_link_and_cancel_closes_it(admin_user: User) -> None:
    client = login(admin_user)
    invite(client, "ivy@example.test")
    invitation = Invitation.objects.get()
    first = invitation_link(mail.outbox[0])
    response = committed(client.post, reverse("settings_invitation_resend", args=[invitation.pk]))
    assert response.status_code == 302
    second = invitation_link(mail.outbox[1])
    assert first != second
    assert "not valid" in HttpClient().get(first).content.decode()
    assert "Join" in HttpClient().get(second).content.decode()
    # Inviting the same address again asks for a resend instead.
    page = invite(client, "ivy@example.test").content.decode()
    assert "open invitation already" in page
    client.post(reverse("settings_invitation_cancel", args=[invitation.pk]))
    page = HttpClient().get(second).content.decode()
    assert "was cancelled" in page
    assert HttpClient().post(second, ACCEPT).status_code == 200
    assert not User.objects.filter(email="ivy@example.test").exists()


def test_an_old_invitation_expires(admin_user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    invite(login(admin_user), "ivy@example.test")
    url = invitation_link(mail.outbox[0])
    later = time.time() + 8 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    response = HttpClient().get(url)
    assert response.status_code == 400 and "too old" in response.content.decode()


def test_an_address_that_became_a_user_meanwhile_cannot_accept(admin_user: User) -> None:
    invite(login(admin_user), "ivy@example.test")
    UserFactory(email="ivy@example.test")  # signed up a practice of her own meanwhile
    page = HttpClient().post(invitation_link(mail.outbox[0]), ACCEPT).content.decode()
    assert "exists already" in page
    assert User.objects.filter(email="ivy@example.test").count() == 1


def test_an_administrator_can_be_invited(admin_user: User, tenant: Tenant) -> None:
    invite(login(admin_user), "second@example.test", role="admin")
    HttpClient().post(invitation_link(mail.outbox[0]), ACCEPT)
    assert User.objects.get(email="second@example.test").role == Role.ADMIN


# --- roles ----------------------------------------------------------------------------------------


def test_a_practice_keeps_an_administrator(admin_user: User, staff: User) -> None:
    client = login(admin_user)
    client.post(reverse("settings_person_role", args=[staff.pk]), {"role": "admin"})
    staff.refresh_from_db()
    assert staff.role == Role.ADMIN
    # Two administrators now: one may step down through the other.
    other = login(staff)
    other.post(reverse("settings_person_role", args=[admin_user.pk]), {"role": "staff"})
    admin_user.refresh_from_db()
    assert admin_user.role == Role.STAFF
    # The last administrator cannot be made staff by anyone.
    with pytest.raises(Exception, match="at least one active administrator"):
        user_set_role(user=staff, role=Role.STAFF, actor=staff)
    staff.refresh_from_db()
    assert staff.role == Role.ADMIN
    roles = AuditEntry.objects.filter(action="accounts.role").count()
    assert roles == 2


def test_a_bad_role_is_refused(admin_user: User, staff: User) -> None:
    response = login(admin_user).post(
        reverse("settings_person_role", args=[staff.pk]), {"role": "operator"}, follow=True
    )
    assert "Choose staff or administrator" in response.content.decode()
    staff.refresh_from_db()
    assert staff.role == Role.STAFF


# --- deactivation ---------------------------------------------------------------------------------


@pytest.fixture
def google(google_fake: GoogleFake) -> Iterator[GoogleFake]:
    google_fake.client_config(GOOGLE_CALLBACK)
    with override_settings(**google_fake.django_settings()):
        yield google_fake


def link_google(client: HttpClient, fake: GoogleFake, email: str) -> None:
    response = client.post(reverse("calsync:setup_google"), {"target": "dedicated"})
    callback = fake.browser_consent(response["Location"], email=email)
    client.get(callback)


def test_deactivating_a_practitioner_revokes_links_ends_the_trial_and_keeps_meetings(
    admin_user: User, staff: User, google: GoogleFake
) -> None:
    trial = subscription_purchase(tenant=admin_user.tenant, user=staff, actor=admin_user)
    staff_client = login(staff)
    link_google(staff_client, google, "sam@gmail.example")
    link = CalendarLink.objects.get(user=staff)
    refresh_token = credentials.decrypt(link.credentials)["refresh_token"]
    meeting = make_meeting(staff, title="Stays")

    admin = login(admin_user)
    confirm = admin.get(reverse("settings_person_deactivate", args=[staff.pk])).content.decode()
    assert "revoked as <em>Revoke access</em> does" in confirm and "Google" in confirm
    page = admin.post(
        reverse("settings_person_deactivate", args=[staff.pk]), follow=True
    ).content.decode()
    assert "is deactivated and can no longer log in" in page
    assert "1 calendar link was revoked" in page and "free trial" in page

    # The grant is gone at Google: the refresh token no longer works.
    assert len(google.requests_to(method="POST", path="/revoke")) == 1
    answer = requests.post(
        google.token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": google.client_id,
            "client_secret": google.client_secret,
        },
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    link.refresh_from_db()
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")
    # The trial ended now: the practice pays nothing for them.
    trial.refresh_from_db()
    assert trial.state == SubscriptionState.CANCELLED and trial.closed_at is not None
    # They cannot log in, and their open session is over.
    staff.refresh_from_db()
    assert not staff.is_active
    assert not HttpClient().login(username=staff.email, password=PASSWORD)
    response = staff_client.get(reverse("agenda:week"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
    # Their meetings stay.
    assert Meeting.objects.filter(pk=meeting.pk, deleted_at__isnull=True).exists()
    assert AuditEntry.objects.filter(action="accounts.deactivate").count() == 1


def test_deactivating_during_a_paid_month_lets_it_run_out(admin_user: User, staff: User) -> None:
    assert admin_user.tenant is not None
    credits_grant(tenant=admin_user.tenant, amount=100, reason="test")
    now = timezone.now()
    first = subscription_purchase(tenant=admin_user.tenant, user=staff, actor=admin_user)
    from billing.services import subscription_cancel

    subscription_cancel(subscription=first, actor=admin_user, now=now)
    # A paid subscription (the trial is used up), then deactivation.
    later = now + timedelta(seconds=1)
    Subscription.objects.filter(pk=first.pk).update(ends_at=now, closed_at=now)
    paid = subscription_purchase(tenant=admin_user.tenant, user=staff, actor=admin_user, now=later)
    assert paid.state == SubscriptionState.ACTIVE
    ended = user_deactivate(user=staff, actor=admin_user, now=later)
    paid.refresh_from_db()
    assert paid.state == SubscriptionState.CANCELLED
    assert paid.ends_at == paid.period_end and paid.closed_at is None  # runs out, not renewed
    assert [s.pk for s in ended.subscriptions] == [paid.pk]


def test_reactivation_brings_the_account_back_without_its_links(
    admin_user: User, staff: User, google: GoogleFake
) -> None:
    subscription_purchase(tenant=admin_user.tenant, user=staff, actor=admin_user)
    link_google(login(staff), google, "sam@gmail.example")
    admin = login(admin_user)
    admin.post(reverse("settings_person_deactivate", args=[staff.pk]))
    page = admin.post(
        reverse("settings_person_reactivate", args=[staff.pk]), follow=True
    ).content.decode()
    assert "can log in again" in page and "stay revoked" in page
    staff.refresh_from_db()
    assert staff.is_active
    back = login(staff)
    assert not CalendarLink.objects.filter(user=staff).exists()
    assert CalendarLink.all_objects.filter(user=staff, state=LinkState.REVOKED).count() == 1
    assert back.get(reverse("agenda:week")).status_code == 200
    assert AuditEntry.objects.filter(action="accounts.reactivate").count() == 1


def test_making_a_practitioner_administrator_ends_their_calendar(
    admin_user: User, staff: User, google: GoogleFake
) -> None:
    subscription_purchase(tenant=admin_user.tenant, user=staff, actor=admin_user)
    link_google(login(staff), google, "sam@gmail.example")
    page = (
        login(admin_user)
        .post(reverse("settings_person_role", args=[staff.pk]), {"role": "admin"}, follow=True)
        .content.decode()
    )
    assert "Administrators have no calendar" in page and "revoked" in page
    assert not CalendarLink.objects.filter(user=staff).exists()
    assert not Subscription.objects.filter(user=staff, state="trial").exists()


def test_no_one_deactivates_themselves_and_a_deactivated_administrator_cannot_act(
    admin_user: User,
) -> None:
    # Refusing one's own deactivation is what keeps the last administrator: whoever acts is an
    # active administrator who stays.
    page = (
        login(admin_user)
        .post(reverse("settings_person_deactivate", args=[admin_user.pk]), follow=True)
        .content.decode()
    )
    assert "You cannot deactivate yourself" in page
    admin_user.refresh_from_db()
    assert admin_user.is_active
    other = UserFactory(tenant=admin_user.tenant, role=Role.ADMIN)
    admin_user.is_active = False
    admin_user.save()
    with pytest.raises(Exception, match="Only an administrator"):
        user_deactivate(user=other, actor=admin_user)  # an inactive administrator
    other.refresh_from_db()
    assert other.is_active


def test_the_people_page_shows_roles_states_and_invitations(admin_user: User, staff: User) -> None:
    client = login(admin_user)
    invite(client, "ivy@example.test")
    client.post(reverse("settings_person_deactivate", args=[staff.pk]))
    page = client.get(reverse("settings_people")).content.decode()
    assert "ivy@example.test" in page and "Deactivated" in page
    assert "Reactivate" in page and "(you)" in page
    settings_page = client.get(reverse("settings")).content.decode()
    assert "Operators add and remove accounts" not in settings_page
    assert reverse("settings_people") in settings_page
