"""Access to every view: anonymous users go to the login page, a wrong role is refused (403), and
another tenant's ids are indistinguishable from missing ones (404).

``VIEWS`` lists every URL name the project has; ``test_every_view_is_listed`` fails when a new
view is added without saying here who may see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import User
from agenda.models import Meeting
from billing.models import Subscription
from billing.services import subscription_purchase
from calsync.models import CalendarLink, Provider
from tests.conftest import login
from tests.factories import UserFactory, make_meeting

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class View:
    name: str
    who: str  # "staff", "admin", "member" (any tenant user), "public", "operator"
    takes_meeting: bool = False
    takes_subscription: bool = False
    takes_link: bool = False
    takes_invitation: bool = False
    takes_person: bool = False
    # A sync history change or a sync message (tested for tenants below).
    takes_change: bool = False
    method: str = "get"


VIEWS = [
    View("home", "public"),
    View("health", "public"),
    # The providers' webhooks: no session, authenticated by the channel's secret (test_push.py).
    View("push_google", "public", method="post"),
    View("push_microsoft", "public", method="post"),
    View("accounts:login", "public"),
    View("accounts:logout", "public", method="post"),
    View("accounts:password_reset", "public"),
    View("accounts:password_reset_done", "public"),
    View("accounts:password_reset_complete", "public"),
    View("accounts:my_account", "member"),
    View("accounts:signup", "public"),
    View("accounts:signup_sent", "public"),
    View("welcome", "member"),
    View("settings_people", "admin"),
    View("settings_people", "admin", method="post"),
    View("settings_invitation_resend", "admin", takes_invitation=True, method="post"),
    View("settings_invitation_cancel", "admin", takes_invitation=True, method="post"),
    View("settings_person_role", "admin", takes_person=True, method="post"),
    View("settings_person_deactivate", "admin", takes_person=True),
    View("settings_person_deactivate", "admin", takes_person=True, method="post"),
    View("settings_person_reactivate", "admin", takes_person=True, method="post"),
    View("calsync:calendarsync", "staff"),
    View("calsync:setup_caldav", "staff"),
    View("calsync:setup_caldav_choose", "staff"),
    View("calsync:setup_google", "staff"),
    View("calsync:google_callback", "staff"),
    View("calsync:setup_microsoft", "staff"),
    View("calsync:microsoft_callback", "staff"),
    View("calsync:revoke", "staff", takes_link=True),
    View("calsync:revoke", "staff", takes_link=True, method="post"),
    View("calsync:reconnect", "staff", takes_link=True),
    View("calsync:reconnect", "staff", takes_link=True, method="post"),
    View("calsync:dismiss_message", "staff", takes_link=True, method="post"),
    View("calsync:allow_deletions", "staff", takes_link=True, method="post"),
    View("calsync:sync_now", "staff", takes_link=True, method="post"),
    View("calsync:sync_status", "staff", takes_link=True),
    View("calsync:calendar_version", "staff"),
    View("calsync:undo_last_run", "staff", takes_link=True, method="post"),
    View("calsync:change_undo", "staff", takes_change=True, method="post"),
    View("calsync:conflict_keep", "staff", takes_change=True, method="post"),
    View("calsync:conflict_take", "staff", takes_change=True, method="post"),
    View("calsync:message_convert", "staff", takes_change=True, method="post"),
    View("calsync:link_privacy", "staff", takes_link=True, method="post"),
    View("settings_privacy", "admin"),
    View("settings_privacy", "admin", method="post"),
    View("agenda:week", "staff"),
    View("agenda:meeting_new", "staff"),
    View("agenda:meeting", "staff", takes_meeting=True),
    View("agenda:meeting_edit", "staff", takes_meeting=True),
    View("agenda:meeting_delete", "staff", takes_meeting=True),
    View("agenda:meeting_split", "staff", takes_meeting=True, method="post"),
    View("agenda:meeting_respond", "staff", takes_meeting=True, method="post"),
    View("settings", "admin"),
    View("settings_resource_add", "admin", method="post"),
    View("settings_client_add", "admin", method="post"),
    View("billing:integrations", "admin"),
    View("billing:buy", "admin"),
    View("billing:activate", "admin", method="post"),
    View("billing:cancel", "admin", takes_subscription=True),
    View("billing:cancel", "admin", takes_subscription=True, method="post"),
    View("billing:credits", "admin"),
    View("billing:credits_buy", "admin", method="post"),
    # Another practice's checkout: tests/billing/test_card_purchase.py.
    View("billing:credits_return", "admin"),
    View("billing:credits_cancelled", "admin"),
    # Authenticated by its Stripe-Signature, not a login (tests/billing/test_card_purchase.py).
    View("stripe_webhook", "public", method="post"),
]
# Views with arguments other than a meeting id, tested on their own (password reset links).
SPECIAL = {
    "accounts:password_reset_confirm",
    # Signed links (tests/accounts/test_signup.py, tests/accounts/test_people.py).
    "accounts:signup_verify",
    "accounts:invitation_accept",
    # Prometheus' scrape: a bearer token of its own, no session; 404 until configured
    # (tests/test_metrics.py).
    "metrics",
}


def _names(patterns: list[URLPattern | URLResolver], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # Django's admin guards itself (operators only), tested below
            inner = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names |= _names(pattern.url_patterns, inner)
        elif pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_view_is_listed() -> None:
    assert _names(get_resolver().url_patterns) == {v.name for v in VIEWS} | SPECIAL


def _request(  # type: ignore[no-untyped-def]
    client: HttpClient, view: View, meeting: Meeting | None = None, link: CalendarLink | None = None
):
    args: list[int] = []
    if view.takes_meeting:
        args = [meeting.pk if meeting else 999999]
    elif view.takes_link:
        args = [link.pk if link else 999999]
    elif view.takes_invitation or view.takes_person or view.takes_change:
        # As for subscriptions: the role check comes first; the tenant checks are below.
        args = [999999]
    elif view.takes_subscription:
        # The role check comes before the lookup, so any id shows a wrong role its 403; the
        # tenant check is test_another_tenants_subscription_is_not_found below.
        subscription = Subscription.objects.first()
        args = [subscription.pk if subscription else 999999]
    return getattr(client, view.method)(reverse(view.name, args=args))


def _link(user: User) -> CalendarLink:
    return CalendarLink.objects.create(
        tenant=user.tenant,
        user=user,
        provider=Provider.CALDAV,
        account=user.email,
        calendar_id=f"https://dav.example/{user.pk}/",
        credentials="",
    )


PROTECTED = [v for v in VIEWS if v.who != "public"]


@pytest.mark.parametrize("view", PROTECTED, ids=lambda v: v.name)
def test_anonymous_users_are_sent_to_login(view: View, staff: User) -> None:
    meeting = make_meeting(staff)
    response = _request(HttpClient(), view, meeting)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("view", [v for v in VIEWS if v.who == "staff"], ids=lambda v: v.name)
def test_administrators_cannot_use_staff_views(view: View, admin_user: User, staff: User) -> None:
    meeting = make_meeting(staff)
    assert _request(login(admin_user), view, meeting).status_code == 403


@pytest.mark.parametrize("view", [v for v in VIEWS if v.who == "admin"], ids=lambda v: v.name)
def test_staff_cannot_use_admin_views(view: View, staff: User) -> None:
    assert _request(login(staff), view).status_code == 403


@pytest.mark.parametrize("view", [v for v in VIEWS if v.takes_meeting], ids=lambda v: v.name)
def test_another_tenants_meeting_is_not_found(view: View, staff: User, outsider: User) -> None:
    foreign = make_meeting(outsider, title="Their secret")
    response = _request(login(staff), view, foreign)
    assert response.status_code == 404
    assert b"Their secret" not in response.content
    foreign.refresh_from_db()
    assert foreign.deleted_at is None and foreign.title == "Their secret"


@pytest.mark.parametrize("view", [v for v in VIEWS if v.takes_meeting], ids=lambda v: v.name)
def test_a_colleagues_private_meeting_is_not_found(
    view: View, staff: User, colleague: User
) -> None:
    # Same tenant, but neither owned nor attended: not in this user's calendar.
    theirs = make_meeting(colleague, title="Colleague only")
    assert _request(login(staff), view, theirs).status_code == 404


@pytest.mark.parametrize("name", ["agenda:meeting_edit", "agenda:meeting_delete"], ids=lambda n: n)
def test_attendees_may_look_but_not_edit(name: str, staff: User, colleague: User) -> None:
    theirs = make_meeting(colleague, attendees=(staff,))
    client = login(staff)
    assert client.get(reverse("agenda:meeting", args=[theirs.pk])).status_code == 200
    assert client.get(reverse(name, args=[theirs.pk])).status_code == 404


def test_operators_use_the_django_admin_and_others_do_not(staff: User, admin_user: User) -> None:
    operator = User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = HttpClient()
    assert client.login(username=operator.email, password="ops-password-123")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/agenda/meeting/").status_code == 200
    # Practice administrators and staff are not operators.
    for user in (staff, admin_user):
        response = login(user).get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_tenants_subscription_is_not_found(
    method: str, admin_user: User, outsider: User
) -> None:
    assert outsider.tenant is not None
    their_admin = UserFactory(tenant=outsider.tenant, role="admin")
    theirs = subscription_purchase(tenant=outsider.tenant, user=outsider, actor=their_admin)
    response = getattr(login(admin_user), method)(reverse("billing:cancel", args=[theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "trial" and theirs.cancelled_at is None


@pytest.mark.parametrize("url", ["/calendar/meetings/999999/", "/calendar/meetings/abc/"])
def test_bad_ids_in_urls_give_404(url: str, staff: User) -> None:
    assert login(staff).get(url).status_code == 404


def test_a_bad_week_falls_back_to_this_week(staff: User) -> None:
    response = login(staff).get("/calendar/?week=2026-13-45")
    assert response.status_code == 200
    assert "That week is not a date (YYYY-MM-DD), so this week is shown." in (
        response.content.decode()
    )


def _home_target(user_factory: Callable[[], User]) -> str:
    return login(user_factory()).get("/")["Location"]


def test_home_leads_each_role_to_its_place(staff: User, admin_user: User) -> None:
    assert _home_target(lambda: staff) == reverse("agenda:week")
    assert _home_target(lambda: admin_user) == reverse("settings")
    assert HttpClient().get("/")["Location"] == reverse("accounts:login")


# --- Settings > People: another practice's people and invitations are not found -----------------

PEOPLE_VIEWS = [v for v in VIEWS if v.takes_person or v.takes_invitation]


@pytest.mark.parametrize("view", PEOPLE_VIEWS, ids=lambda v: f"{v.name}-{v.method}")
def test_another_tenants_people_and_invitations_are_not_found(
    view: View, admin_user: User, outsider: User
) -> None:
    from accounts.models import Invitation
    from accounts.services import invitation_create

    assert outsider.tenant is not None
    their_admin = UserFactory(tenant=outsider.tenant, role="admin")
    theirs = invitation_create(
        tenant=outsider.tenant,
        actor=their_admin,
        email="their-invitee@example.test",
        role="staff",
        link=lambda token: f"http://testserver/{token}",
    )
    token_before = theirs.token
    target = theirs.pk if view.takes_invitation else outsider.pk
    data = {"role": "admin"} if view.name == "settings_person_role" else {}
    client = login(admin_user)
    response = getattr(client, view.method)(reverse(view.name, args=[target]), data)
    assert response.status_code == 404
    assert b"their-invitee" not in response.content and b"Otto" not in response.content
    theirs.refresh_from_db()
    outsider.refresh_from_db()
    assert theirs.state == "open" and theirs.token == token_before
    assert Invitation.objects.filter(tenant=admin_user.tenant).count() == 0
    assert outsider.is_active and outsider.role == "staff"


def test_people_page_lists_only_this_practice(
    admin_user: User, staff: User, outsider: User
) -> None:
    page = login(admin_user).get(reverse("settings_people")).content.decode()
    assert staff.email in page and outsider.email not in page


@pytest.mark.parametrize(
    ("url", "method"),
    [
        ("/settings/people/99999999999999999999/deactivate/", "get"),
        ("/settings/people/99999999999999999999/role/", "post"),
        ("/settings/people/invitations/99999999999999999999/resend/", "post"),
        ("/settings/integrations/credits/return/?session_id=%00", "get"),
        ("/account/invitation/not-a-token/", "get"),
        ("/account/signup/verify/not-a-token/", "get"),
    ],
)
def test_bad_ids_and_tokens_in_new_urls_are_not_500s(
    url: str, method: str, admin_user: User
) -> None:
    response = getattr(login(admin_user), method)(url)
    assert response.status_code in (400, 404)


# --- The sync history's answers: another tenant's or a colleague's changes and links -----------

HISTORY_VIEWS = [v for v in VIEWS if v.takes_change or v.name == "calsync:undo_last_run"]


@pytest.mark.parametrize("view", HISTORY_VIEWS, ids=lambda v: v.name)
@pytest.mark.parametrize("whose", ["outsider", "colleague"])
def test_another_users_sync_history_is_not_found(
    view: View, whose: str, staff: User, request: pytest.FixtureRequest
) -> None:
    from agenda.services import meeting_delete
    from calsync.models import SyncChange, SyncMessage

    other: User = request.getfixturevalue(whose)
    link = _link(other)
    meeting = make_meeting(other, title="Their secret")
    meeting_delete(meeting=meeting)
    change = SyncChange.objects.create(
        tenant=other.tenant,
        link=link,
        meeting=meeting,
        lease_token=1,
        direction="here",
        action="deleted",
        reason="deletion",
        fields={"title": ["Their secret", None]},
        conflicts=[{"field": "title", "here": "a", "there": "b", "winner": "here"}],
        conflict_state="open",
    )
    message = SyncMessage.objects.create(
        link=link, subject="x", code="sunday_week_start", text="Split it", fingerprint="f"
    )
    if view.takes_change:
        target = message.pk if view.name == "calsync:message_convert" else change.pk
    else:
        target = link.pk
    response = login(staff).post(reverse(view.name, args=[target]))
    assert response.status_code == 404
    change.refresh_from_db()
    assert change.undone_at is None and change.conflict_state == "open"
    assert Meeting.all_objects.get(pk=meeting.pk).deleted_at is not None
    assert SyncMessage.objects.filter(pk=message.pk).exists()
