"""Names are one line (no CR/LF or other control characters) wherever they are set, and time zones
are real IANA zones: not this machine's ``localtime`` nor tzdb's ``Factory`` placeholder."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import Role, Tenant, User, available_time_zones, validate_time_zone
from accounts.services import tenant_create, user_create, user_update_profile
from agenda.models import Client, Resource
from agenda.services import client_create, meeting_create, resource_create
from tests.agenda.test_limits import _data
from tests.conftest import login

pytestmark = pytest.mark.django_db

BAD_NAMES = [
    "Eve\r\nBcc: attacker@example.test",
    "Eve\nSmith",
    "Eve\tSmith",
    "Eve\x00",
    "Eve\u2028Smith",
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_my_account_refuses_a_name_with_control_characters(staff: User, name: str) -> None:
    response = login(staff).post(
        reverse("accounts:my_account"), {"full_name": name, "time_zone": "Europe/London"}
    )
    assert response.status_code == 200
    assert b"A name must be on one line" in response.content
    staff.refresh_from_db()
    assert staff.full_name == "Sam Staff"


def test_the_practice_name_is_one_line(admin_user: User) -> None:
    response = login(admin_user).post(
        reverse("settings"), {"name": "Clinic\r\nBcc: x@example.test", "time_zone": "UTC"}
    )
    assert b"A name must be on one line" in response.content
    assert admin_user.tenant is not None
    assert Tenant.objects.get(pk=admin_user.tenant_id).name == admin_user.tenant.name


def test_client_and_resource_names_are_one_line(admin_user: User) -> None:
    client = login(admin_user)
    for url in ("settings_resource_add", "settings_client_add"):
        page = client.post(reverse(url), {"name": "Room\r\n7"}, follow=True)
        assert b"A name must be on one line" in page.content
    assert not Resource.objects.exists() and not Client.objects.exists()


def test_the_services_refuse_such_names(tenant: Tenant, staff: User) -> None:
    bad = BAD_NAMES[0]
    with pytest.raises(ValidationError):
        tenant_create(name=bad, slug="bad")
    with pytest.raises(ValidationError):
        user_create(tenant=tenant, email="eve@example.test", role=Role.STAFF, full_name=bad)
    with pytest.raises(ValidationError):
        user_update_profile(user=staff, full_name=bad, time_zone="UTC")
    with pytest.raises(ValidationError):
        resource_create(tenant=tenant, name=bad)
    with pytest.raises(ValidationError):
        client_create(tenant=tenant, name=bad)
    assert not User.objects.filter(email="eve@example.test").exists()


def test_the_admins_user_form_refuses_such_names(tenant: Tenant) -> None:
    operator = User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = HttpClient()
    client.force_login(operator)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "eve@example.test",
            "full_name": BAD_NAMES[0],
            "tenant": tenant.pk,
            "role": "staff",
            "password1": "a-long-enough-pass-42",
            "password2": "a-long-enough-pass-42",
        },
    )
    assert response.status_code == 200 and b"A name must be on one line" in response.content
    assert not User.objects.filter(email="eve@example.test").exists()


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "right/UTC", "Nowhere"])
def test_only_iana_zones_are_accepted(staff: User, zone: str) -> None:
    assert zone not in available_time_zones()
    with pytest.raises(ValidationError):
        validate_time_zone(zone)
    response = login(staff).post(
        reverse("accounts:my_account"), {"full_name": "Sam", "time_zone": zone}
    )
    assert f"Unknown time zone {zone}.".encode() in response.content
    with pytest.raises(ValidationError) as caught:
        meeting_create(owner=staff, data=replace(_data(), time_zone=zone))
    assert "time_zone" in caught.value.message_dict


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "UTC", "US/Eastern", "Etc/GMT+5"])
def test_iana_zones_and_their_links_are_accepted(zone: str) -> None:
    assert zone in available_time_zones()
    validate_time_zone(zone)
