"""One date and time format (issue 18 §4): CalSync's named formats, 24-hour, in the user's zone,
whether a template, the code or the page's polling writes the moment."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from calsync.status import exact
from tests.conftest import login
from tests.test_scheduler import make_link

MOMENT = datetime(2026, 12, 1, 20, 47, tzinfo=UTC)


def test_templates_write_moments_in_one_24_hour_format() -> None:
    with timezone.override(ZoneInfo("Europe/Amsterdam")):
        rendered = Template(
            '{{ m }}|{{ m|date:"DATETIME_FORMAT" }}|{{ m|date:"SHORT_DATETIME_FORMAT" }}|'
            '{{ m|date:"DATE_FORMAT" }}'
        ).render(Context({"m": MOMENT}))
        assert rendered == (
            "1 December 2026, 21:47|1 December 2026, 21:47|1 Dec 2026, 21:47|1 December 2026"
        )
        assert exact(MOMENT) == "1 Dec 2026, 21:47"


@pytest.mark.django_db
def test_the_page_and_its_polling_write_the_same_moment_in_the_users_zone(staff: User) -> None:
    User.objects.filter(pk=staff.pk).update(time_zone="Australia/Sydney")
    link = make_link(staff, cursor="t", last_success_at=MOMENT)
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    status = client.get(reverse("calsync:sync_status", args=[link.pk])).json()
    # 20:47 UTC is 07:47 the next morning in Sydney.
    assert 'title="2 Dec 2026, 07:47"' in page and 'title="2 Dec 2026, 07:47"' in status["line"]
    assert "p.m." not in page and "a.m." not in page
