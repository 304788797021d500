"""The per-meeting sync history (issue 16 §2, PRODUCT 38): one row per applied change, written in
the change's transaction; undo of deletions, fields and a whole run; conflict review. Against
Radicale and the Google fake, through the real engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from agenda.services import meeting_update
from calsync import history
from calsync.engine.run import run_link
from calsync.models import CalendarLink, ChangeReason, EventMapping, SyncChange
from connectors.google.connector import GoogleConnector
from tests.agenda.test_services import data_of
from tests.engine.helpers import link_caldav, link_google
from tests.engine.test_sync_caldav import future
from tests.factories import make_meeting
from tests.fakes.google import SCOPE_APP_CREATED

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


@pytest.fixture(params=["radicale", "google"])
def linked(request: pytest.FixtureRequest, staff: User):  # type: ignore[no-untyped-def]
    if request.param == "radicale":
        server = request.getfixturevalue("radicale")
        return lambda: link_caldav(staff, server)
    fake = request.getfixturevalue("google_fake")
    settings = request.getfixturevalue("settings")
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)

    def to_google():  # type: ignore[no-untyped-def]
        link, calendar_id = link_google(staff, fake)
        reader = GoogleConnector(
            credentials=fake.issue_tokens(link.account, [SCOPE_APP_CREATED]).credentials(),
            calendar_id=calendar_id,
            api_endpoint=fake.api_endpoint,
            default_zone=staff.time_zone,
            timeout=10,
        )
        return link, reader

    return to_google


def inserts(captured: CaptureQueriesContext) -> int:
    return sum('INSERT INTO "calsync_syncchange"' in q["sql"] for q in captured.captured_queries)


def test_an_outside_edit_is_one_history_row_with_old_and_new_values(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Review", start=future(2))
    link, reader = linked()
    with CaptureQueriesContext(connection) as first:
        assert run_link(link.pk).counts == {"created_there": 1}
    assert inserts(first) == 1
    sent = SyncChange.objects.get()
    assert (sent.direction, sent.action, sent.reason) == ("there", "created", "edit_here")
    assert sent.fields["title"] == [None, "Review"] and sent.tenant_id == staff.tenant_id

    mapping = EventMapping.objects.get(meeting=meeting)
    item = reader.get(mapping.external_id)
    reader.update(mapping.external_id, replace(item.event, title="Review, room 4"), etag=item.etag)
    with CaptureQueriesContext(connection) as second:
        assert run_link(link.pk).counts == {"updated_here": 1}
    assert inserts(second) == 1
    change = history.meeting_history(meeting)[0]
    assert (change.direction, change.action, change.reason) == (
        "here",
        "updated",
        ChangeReason.OUTSIDE_EDIT,
    )
    # Only what changed, with its value before and after.
    assert change.fields == {"title": ["Review", "Review, room 4"]}
    assert change.run_id == f"{link.pk}.{CalendarLink.objects.get(pk=link.pk).lease_token}"

    # A quiet run adds nothing (the history costs a quiet poll nothing).
    with CaptureQueriesContext(connection) as quiet:
        assert run_link(link.pk).counts == {}
    assert inserts(quiet) == 0
    assert SyncChange.objects.count() == 2


def test_a_change_that_rolls_back_leaves_no_history(staff: User, linked, monkeypatch) -> None:
    meeting = make_meeting(staff, title="Review", start=future(2))
    link, reader = linked()
    run_link(link.pk)
    mapping = EventMapping.objects.get(meeting=meeting)
    item = reader.get(mapping.external_id)
    reader.update(mapping.external_id, replace(item.event, title="Outside"), etag=item.etag)
    from calsync.engine import run as engine

    def refuse(**kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("the database refused the value")

    # The meeting's write fails inside the change's transaction: no history row either.
    monkeypatch.setattr(engine, "meeting_update", refuse)
    assert run_link(link.pk).counts == {"skipped": 1}
    assert SyncChange.objects.count() == 1  # the first sync's create only
    meeting.refresh_from_db()
    assert meeting.title == "Review"


def test_undo_of_a_sync_deletion_restores_the_meeting_and_it_syncs_out(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Dentist", start=future(4))
    link, reader = linked()
    run_link(link.pk)
    mapping = EventMapping.objects.get(meeting=meeting)
    reader.delete(mapping.external_id, etag=None)
    assert run_link(link.pk).counts == {"deleted_here": 1}
    deletion = history.sync_deletions(link)[0]
    assert (deletion.meeting_id, deletion.reason) == (meeting.pk, ChangeReason.DELETION)
    assert deletion.fields["title"] == ["Dentist", None]
    seq = Meeting.all_objects.get(pk=meeting.pk).change_seq

    assert history.undo_change(deletion) == history.Undone(restored=1)
    restored = Meeting.objects.get(pk=meeting.pk)
    assert restored.change_seq > seq  # a normal edit: it converges like any other
    assert history.sync_deletions(link) == []
    with pytest.raises(history.UndoError):
        history.undo_change(deletion)
    assert run_link(link.pk).counts == {"created_there": 1}
    assert [i.event.title for i in reader.full_listing().items] == ["Dentist"]
    assert run_link(link.pk).counts == {}


def test_undo_of_an_outside_edit_reverts_the_fields_here_and_there(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Board", start=future(3), location="Room 1")
    link, reader = linked()
    run_link(link.pk)
    external_id = EventMapping.objects.get(meeting=meeting).external_id
    item = reader.get(external_id)
    moved = item.event.start + timedelta(hours=2)
    reader.update(
        external_id,
        replace(item.event, location="Room 9", start=moved, end=moved + timedelta(hours=1)),
        etag=item.etag,
    )
    assert run_link(link.pk).counts == {"updated_here": 1}
    change = history.meeting_history(meeting)[0]
    assert {"location", "start", "end"} <= change.fields.keys()

    history.undo_change(change)
    meeting.refresh_from_db()
    assert (meeting.location, meeting.start) == ("Room 1", future(3))
    assert run_link(link.pk).counts == {"updated_there": 1}
    event = reader.get(external_id).event
    assert (event.location, event.start) == ("Room 1", future(3))
    assert run_link(link.pk).counts == {}


def test_undo_the_last_run_brings_back_what_a_mass_delete_removed(staff: User, linked) -> None:
    meetings = [make_meeting(staff, title=f"M{i}", start=future(i + 1)) for i in range(6)]
    link, reader = linked()
    run_link(link.pk)
    for item in reader.full_listing().items[:5]:
        reader.delete(item.external_id, etag=None)
    assert run_link(link.pk).status == "stopped"
    CalendarLink.objects.filter(pk=link.pk).update(allow_mass_delete=True)
    assert run_link(link.pk).counts == {"deleted_here": 5}

    run, changes = history.last_run_changes(link)
    assert run is not None and len(changes) == 5
    assert history.undo_last_run(link) == history.Undone(restored=5)
    assert Meeting.objects.filter(pk__in=[m.pk for m in meetings]).count() == 6
    assert run_link(link.pk).counts == {"created_there": 5}
    assert len(reader.full_listing().items) == 6
    # The run that put them back is now the last one: it created copies, which undo leaves.
    with pytest.raises(history.UndoError):
        history.undo_last_run(link)


def test_a_conflict_is_listed_and_the_other_side_can_be_taken(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Planning", start=future(3))
    link, reader = linked()
    run_link(link.pk)
    item = reader.full_listing().items[0]
    reader.update(
        item.external_id, replace(item.event, description="outside", updated=None), etag=item.etag
    )
    meeting_update(meeting=meeting, data=data_of(meeting, description="inside"))
    run_link(link.pk)
    conflict = history.open_conflicts(link).get()
    assert conflict.reason == ChangeReason.CONFLICT
    assert conflict.conflicts == [
        {"field": "description", "here": "inside", "there": "outside", "winner": "here"}
    ]
    meeting.refresh_from_db()
    assert meeting.description == "inside"

    history.conflict_take_other(conflict)
    meeting.refresh_from_db()
    assert meeting.description == "outside"
    assert not history.open_conflicts(link).exists()
    with pytest.raises(history.UndoError):
        history.conflict_keep(conflict)
    assert run_link(link.pk).counts == {"updated_there": 1}
    assert reader.get(item.external_id).event.description == "outside"
    assert run_link(link.pk).counts == {}


def test_keeping_a_conflict_changes_nothing_but_the_review(staff: User, radicale) -> None:
    meeting = make_meeting(staff, title="Planning", start=future(3))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    item = reader.full_listing().items[0]
    reader.update(item.external_id, replace(item.event, title="There"), etag=item.etag)
    meeting_update(meeting=meeting, data=data_of(meeting, title="Here"))
    run_link(link.pk)
    conflict = history.open_conflicts(link).get()
    seq = Meeting.objects.get(pk=meeting.pk).change_seq
    history.conflict_keep(conflict)
    assert not history.open_conflicts(link).exists()
    assert Meeting.objects.get(pk=meeting.pk).change_seq == seq


def test_history_older_than_the_retention_is_cleaned_up(staff: User, radicale, settings) -> None:
    make_meeting(staff, title="Old", start=future(2))
    link, _ = link_caldav(staff, radicale)
    run_link(link.pk)
    kept = SyncChange.objects.get()
    settings.CALSYNC_HISTORY_RETENTION_DAYS = 90
    assert history.history_cleanup(now=timezone.now() + timedelta(days=89)) == 0
    assert history.history_cleanup(now=timezone.now() + timedelta(days=91)) == 1
    assert not SyncChange.objects.filter(pk=kept.pk).exists()


def test_an_import_with_a_recurrence_flag_says_so(staff: User, radicale) -> None:
    from tests.engine.test_sync_caldav import put_outside
    from tests.test_sync_history_pages import ics

    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    # No end: imported with the far-future end and a message (PRODUCT 21).
    put_outside(reader, "open.ics", ics("Open-ended", future(1), "FREQ=WEEKLY"))
    assert run_link(link.pk).counts == {"created_here": 1}
    change = SyncChange.objects.get(meeting__title="Open-ended")
    assert (change.direction, change.action, change.reason) == (
        "here",
        "created",
        ChangeReason.RECURRENCE,
    )
    assert change.fields["rule"][0] is None and change.fields["rule"][1]["frequency"] == "weekly"


def test_operators_see_the_history_read_only_in_the_admin(staff: User, radicale) -> None:
    from django.test import Client as HttpClient

    make_meeting(staff, title="Audited", start=future(2))
    link, _ = link_caldav(staff, radicale)
    run_link(link.pk)
    change = SyncChange.objects.get()
    User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = HttpClient()
    assert client.login(username="ops@example.test", password="ops-password-123")
    listing = client.get("/admin/calsync/syncchange/").content.decode()
    assert "Audited" in listing and "Edited here" in listing
    page = client.get(f"/admin/calsync/syncchange/{change.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/calsync/syncchange/{change.pk}/delete/").status_code == 403
    assert SyncChange.objects.filter(pk=change.pk).exists()
