"""Privacy levels' settings and pages (issue 16 §1): *Settings > Privacy* for administrators, the
level chosen at Setup and changed on the CalendarSync page, within what the practice allows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import AuditEntry, User
from calsync.engine.fields import Level, Privacy
from calsync.models import CalendarLink, PracticePrivacy, Provider, Target
from calsync.privacy import link_privacy, link_privacy_update, practice_privacy_update
from calsync.services import link_create
from tests.caldav_servers import CalDAVServer
from tests.conftest import login
from tests.factories import UserFactory, entitle

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


def a_link(user: User, name: str = "cal", **privacy: str) -> CalendarLink:
    return link_create(
        user=user,
        provider=Provider.CALDAV,
        account="alice",
        server_url="https://dav.example/",
        calendar_id=f"https://dav.example/{name}/",
        calendar_name=name,
        target=Target.EXISTING,
        secrets={"password": "x"},
        privacy=privacy or None,
    )


def rules_form(**overrides: str) -> dict[str, str]:
    data = {
        "client_level": "busy",
        "client_title": "Client appointment",
        "other_level": "title",
        "other_title": "Busy",
        "personal_level": "full",
        "personal_title": "Away",
        "staff_may_loosen": "",
    }
    data.update(overrides)
    return data


def test_an_administrator_sets_the_practice_rules_and_existing_links_are_rewritten(
    staff: User, admin_user: User, admin_client_: HttpClient
) -> None:
    link = a_link(staff)
    assert (link.privacy_client, link.privacy_version) == ("full", 0)
    page = admin_client_.get(reverse("settings_privacy"))
    assert page.status_code == 200 and b"Busy only" in page.content
    response = admin_client_.post(reverse("settings_privacy"), rules_form(), follow=True)
    assert b"The privacy rules were saved" in response.content
    rules = PracticePrivacy.objects.get(tenant=staff.tenant)
    assert (rules.client_level, rules.other_level) == ("busy", "title")
    assert rules.personal_title == "Away"
    assert rules.staff_may_loosen is False
    link.refresh_from_db()
    assert link.privacy_version == 1  # its next run rewrites the copies
    # Staff may not loosen: the link's own "full" syncs at the practice's defaults.
    assert link_privacy(link) == Privacy(
        client=Level.BUSY,
        other=Level.TITLE,
        personal=Level.FULL,
        other_title="Busy",
        personal_title="Away",
    )
    assert AuditEntry.objects.filter(action="calsync.practice_privacy").count() == 1
    # The settings page links to it.
    assert reverse("settings_privacy").encode() in admin_client_.get(reverse("settings")).content


def test_the_practice_rules_refuse_a_blank_title_and_an_unknown_level(
    admin_client_: HttpClient, admin_user: User
) -> None:
    response = admin_client_.post(reverse("settings_privacy"), rules_form(client_title="   "))
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    response = admin_client_.post(reverse("settings_privacy"), rules_form(other_level="secret"))
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not PracticePrivacy.objects.exists()
    assert admin_user.tenant is not None
    with pytest.raises(ValidationError):
        practice_privacy_update(
            tenant=admin_user.tenant,
            actor=admin_user,
            levels={"client": "full", "other": "full", "personal": "nope"},
            staff_may_loosen=True,
            titles={"client": "a", "other": "b", "personal": "c"},
        )
    with pytest.raises(ValidationError, match="needs a title"):
        practice_privacy_update(
            tenant=admin_user.tenant,
            actor=admin_user,
            levels={"client": "full", "other": "full", "personal": "full"},
            staff_may_loosen=True,
            titles={"client": " \t ", "other": "b", "personal": "c"},
        )
    assert not PracticePrivacy.objects.exists()


def test_staff_cannot_open_the_practice_rules(staff_client: HttpClient) -> None:
    response = staff_client.get(reverse("settings_privacy"))
    assert response.status_code in (302, 403)
    assert not PracticePrivacy.objects.exists()


def test_staff_change_a_links_levels_on_the_calendarsync_page(
    staff: User, staff_client: HttpClient
) -> None:
    link = a_link(staff)
    page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
    assert f'id="privacy-{link.pk}"' in page and "Save privacy levels" in page
    response = staff_client.post(
        reverse("calsync:link_privacy", args=[link.pk]),
        {
            f"privacy-{link.pk}-client": "busy",
            f"privacy-{link.pk}-other": "title",
            f"privacy-{link.pk}-personal": "full",
        },
        follow=True,
    )
    assert b"being rewritten now" in response.content
    link.refresh_from_db()
    assert (link.privacy_client, link.privacy_other, link.privacy_personal) == (
        "busy",
        "title",
        "full",
    )
    assert link.privacy_version == 1 and link.privacy_applied == 0
    # Saving the same levels again changes nothing and asks for no rewrite.
    assert not link_privacy_update(link=link, actor=staff, levels={"client": "busy"})
    assert link.privacy_version == 1


def test_staff_may_not_loosen_when_the_practice_says_so(staff: User, admin_user: User) -> None:
    assert staff.tenant is not None
    practice_privacy_update(
        tenant=staff.tenant,
        actor=admin_user,
        levels={"client": "busy", "other": "full", "personal": "full"},
        staff_may_loosen=False,
        titles={"client": "Client appointment", "other": "Busy", "personal": "Busy"},
    )
    link = a_link(staff)
    assert link.privacy_client == "busy"  # a new link starts at the practice's default
    with pytest.raises(ValidationError, match="does not allow"):
        link_privacy_update(link=link, actor=staff, levels={"client": "title"})
    with pytest.raises(ValidationError, match="does not allow"):
        a_link(staff, "second", client="full")
    client = login(staff)
    response = client.post(
        reverse("calsync:link_privacy", args=[link.pk]),
        {f"privacy-{link.pk}-client": "full"},
        follow=True,
    )
    assert b"Select a valid choice" in response.content  # not even offered
    link.refresh_from_db()
    assert link.privacy_client == "busy"


def test_another_users_link_is_not_found(staff: User, tenant: object) -> None:
    link = a_link(staff)
    colleague = entitle(UserFactory(tenant=staff.tenant))
    response = login(colleague).post(
        reverse("calsync:link_privacy", args=[link.pk]), {f"privacy-{link.pk}-client": "busy"}
    )
    assert response.status_code == 404
    link.refresh_from_db()
    assert link.privacy_client == "full"


def test_the_level_chosen_at_setup_is_the_new_links(
    staff: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    page = staff_client.get(reverse("calsync:setup_caldav")).content.decode()
    assert "Privacy in this calendar" in page and 'name="privacy-client"' in page
    staff_client.post(
        reverse("calsync:setup_caldav"),
        {
            "server_url": radicale.url,
            "username": radicale.username,
            "password": radicale.password,
            "target": "dedicated",
            "privacy-client": "busy",
            "privacy-other": "title",
            "privacy-personal": "full",
        },
        follow=True,
    )
    link = CalendarLink.objects.get(user=staff)
    assert (link.privacy_client, link.privacy_other, link.privacy_personal) == (
        "busy",
        "title",
        "full",
    )


def test_the_migration_takes_earlier_pairs_of_personal_meetings_for_imported(staff: User) -> None:
    """Mappings from before levels: a personal meeting's pair keeps full two-way sync (it may be
    the user's own outside event), an appointment's is ours and follows the levels."""
    import importlib

    from django.apps import apps

    from agenda.models import MeetingKind
    from calsync.models import EventMapping
    from tests.factories import make_meeting

    migration = importlib.import_module("calsync.migrations.0007_privacy_levels")
    link = a_link(staff)
    personal = make_meeting(staff, title="Dentist", kind=MeetingKind.PERSONAL)
    ours = make_meeting(staff, title="Review")
    for n, meeting in enumerate([personal, ours]):
        EventMapping.objects.create(
            link=link, meeting=meeting, external_id=f"e{n}", etag="1", snapshot={"title": "x"}
        )
    migration.mark_imported(apps, None)
    snapshots = {m.meeting_id: m.snapshot for m in EventMapping.objects.filter(link=link)}
    assert snapshots[personal.pk] == {"title": "x", "_imported": True}
    assert snapshots[ours.pk] == {"title": "x"}


def test_operators_see_the_practice_rules_in_the_admin(staff: User, admin_user: User) -> None:
    from django.test import Client

    assert staff.tenant is not None
    practice_privacy_update(
        tenant=staff.tenant,
        actor=admin_user,
        levels={"client": "busy", "other": "full", "personal": "title"},
        staff_may_loosen=False,
        titles={"client": "Client appointment", "other": "Busy", "personal": "Busy"},
    )
    operator = User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = Client()
    client.force_login(operator)
    page = client.get(reverse("admin:calsync_practiceprivacy_changelist"))
    assert page.status_code == 200
    assert staff.tenant.name in page.content.decode()
    assert client.get(reverse("admin:calsync_practiceprivacy_add")).status_code == 403
