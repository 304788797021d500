"""Login, throttling, password reset, activity tracking, My Account and Settings."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, Tenant, User
from agenda.models import Client, Resource
from tests.conftest import login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_users_log_in_by_email_case_insensitively(staff: User) -> None:
    client = HttpClient()
    response = client.post(
        reverse("accounts:login"), {"username": staff.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("agenda:week")).status_code == 200


@override_settings(ACCOUNTS_LOGIN_MAX_FAILURES=3)
def test_repeated_failures_are_throttled_even_with_the_right_password(staff: User) -> None:
    client = HttpClient()
    for _ in range(3):
        response = client.post(
            reverse("accounts:login"), {"username": staff.email, "password": "wrong"}
        )
        assert b"Please enter a correct" in response.content
    response = client.post(
        reverse("accounts:login"), {"username": staff.email, "password": PASSWORD}
    )
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_password_reset_sends_a_working_link(staff: User) -> None:
    HttpClient().post(reverse("accounts:password_reset"), {"email": staff.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/account/password-reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    client = HttpClient()
    response = client.get(link.group(1), follow=True)
    new = "a-brand-new-passphrase-42"
    client.post(response.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert HttpClient().login(username=staff.email, password=new)


def test_password_reset_does_not_reveal_unknown_addresses() -> None:
    response = HttpClient().post(
        reverse("accounts:password_reset"), {"email": "nobody@example.test"}
    )
    assert response.status_code == 302 and mail.outbox == []


def test_activity_is_written_at_most_once_a_minute(staff: User) -> None:
    client = login(staff)
    client.get(reverse("accounts:my_account"))
    staff.refresh_from_db()
    first = staff.last_seen_at
    assert first is not None and timezone.now() - first < timedelta(seconds=30)

    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("accounts:my_account"))
    assert not [q for q in queries if 'UPDATE "accounts_user"' in q["sql"]]

    User.objects.filter(pk=staff.pk).update(last_seen_at=first - timedelta(minutes=2))
    client.get(reverse("accounts:my_account"))
    staff.refresh_from_db()
    assert staff.last_seen_at is not None and staff.last_seen_at > first - timedelta(minutes=1)


def test_a_pages_background_polls_are_not_activity(staff: User) -> None:
    """An open week view polls every few seconds; that must not keep its user on the 3-minute
    cadence all day (PRODUCT 23: active means they used the application)."""
    client = login(staff)
    User.objects.filter(pk=staff.pk).update(last_seen_at=None)
    response = client.get(
        reverse("calsync:calendar_version"), headers={"X-CalSync-Background": "1"}
    )
    assert response.status_code == 200
    staff.refresh_from_db()
    assert staff.last_seen_at is None
    client.get(reverse("agenda:week"))
    staff.refresh_from_db()
    assert staff.last_seen_at is not None


def test_my_account_saves_profile_and_rejects_unknown_zones(staff: User) -> None:
    client = login(staff)
    response = client.post(
        reverse("accounts:my_account"), {"full_name": "Sam S.", "time_zone": "Nowhere/Land"}
    )
    assert b"Unknown time zone Nowhere/Land." in response.content
    client.post(
        reverse("accounts:my_account"), {"full_name": "Sam S.", "time_zone": "Europe/London"}
    )
    staff.refresh_from_db()
    assert (staff.full_name, staff.time_zone) == ("Sam S.", "Europe/London")


def test_my_account_shows_calendarsync_to_staff_only(staff: User, admin_user: User) -> None:
    assert b'href="/account/calendarsync/"' in login(staff).get("/account/").content
    page = login(admin_user).get("/account/").content
    assert b'href="/account/calendarsync/"' not in page
    assert b"Administrators have no calendar" in page
    sync_page = login(staff).get("/account/calendarsync/").content
    # Honest page: no Setup buttons until the connectors exist.
    assert (
        b"You have no linked calendars." in sync_page
        and b"<button" not in sync_page.split(b'<main id="main" tabindex="-1">')[1]
    )


def test_settings_adds_resources_and_clients_for_this_tenant_only(
    admin_user: User, other_tenant: Tenant
) -> None:
    client = login(admin_user)
    client.post(reverse("settings_resource_add"), {"name": "Room 7"})
    client.post(reverse("settings_client_add"), {"name": "Ms. Example", "email": "ex@example.com"})
    assert list(Resource.objects.values_list("tenant", "name")) == [
        (admin_user.tenant_id, "Room 7")
    ]
    assert Client.objects.get().tenant_id == admin_user.tenant_id
    # A duplicate name and an invalid address are explained, not a 500.
    page = client.post(reverse("settings_resource_add"), {"name": "Room 7"}, follow=True)
    assert b"already exists" in page.content
    page = client.post(reverse("settings_client_add"), {"name": "X", "email": "nope"}, follow=True)
    assert b"Enter a valid email address." in page.content
    assert not other_tenant.resources.exists()


def test_settings_renames_the_practice(admin_user: User) -> None:
    client = login(admin_user)
    client.post(reverse("settings"), {"name": "Renamed", "time_zone": "Europe/Berlin"})
    assert Tenant.objects.get(pk=admin_user.tenant_id).name == "Renamed"


def test_a_tenant_user_must_have_a_role(tenant: Tenant) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="norole@example.test", tenant=tenant, role="")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="x@example.test", tenant=None, role=Role.STAFF)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="Sam@Example.test", tenant=tenant, role=Role.STAFF)
        User.objects.create(email="sam@example.test", tenant=tenant, role=Role.STAFF)
