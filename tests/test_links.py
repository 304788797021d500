"""Calendar links: one live link per external calendar, and the billing pause."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from calsync.models import CalendarLink, LinkState, Provider
from calsync.services import links_set_billing_pause

pytestmark = pytest.mark.django_db


def link(user: User, **extra: object) -> CalendarLink:
    values: dict[str, object] = {
        "tenant": user.tenant,
        "user": user,
        "provider": Provider.CALDAV,
        "account": "alice",
        "calendar_id": "/alice/calendar/",
    }
    values.update(extra)
    return CalendarLink.objects.create(**values)


def test_one_live_link_per_external_calendar(staff: User) -> None:
    first = link(staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        link(staff)
    CalendarLink.objects.filter(pk=first.pk).update(state=LinkState.REVOKED)
    assert link(staff).pk != first.pk  # a revoked link does not block linking again
    assert CalendarLink.all_objects.count() == 2 and CalendarLink.objects.count() == 1


def test_billing_pause_and_resume_touch_only_that_user(staff: User, colleague: User) -> None:
    mine, theirs = link(staff), link(colleague)
    assert links_set_billing_pause(user=staff, paused=True) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.billing_paused, mine.syncs, mine.display_state) == (
        True,
        False,
        "Paused for billing",
    )
    assert theirs.syncs
    assert links_set_billing_pause(user=staff, paused=True) == 0  # idempotent
    assert links_set_billing_pause(user=staff, paused=False) == 1
    mine.refresh_from_db()
    assert mine.syncs and mine.display_state == "Active"
