"""Reads of sync state for pages other than the owner's CalendarSync page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch

from accounts.models import Role, Tenant, User
from calsync import scheduler
from calsync.models import CalendarLink, SyncRun
from calsync.status import StatusLine, status_line


@dataclass(frozen=True)
class LinkHealth:
    link: CalendarLink
    status: StatusLine


@dataclass(frozen=True)
class PractitionerHealth:
    user: User
    links: list[LinkHealth]


def sync_health_of(tenant: Tenant, now: datetime) -> list[PractitionerHealth]:
    """Each active practitioner of ``tenant`` with the status line of each live link (what
    *Settings > Integrations* shows administrators): three queries whatever the practice's
    size, plus one Redis lookup per link for "waiting for a worker"."""
    people = list(
        User.objects.filter(tenant=tenant, role=Role.STAFF, is_active=True)
        .order_by("full_name", "email")
        .prefetch_related(
            Prefetch(
                "calendar_links",
                queryset=CalendarLink.objects.order_by("created_at").prefetch_related(
                    Prefetch(
                        "runs",
                        queryset=SyncRun.objects.order_by("-started_at")[:1],
                        to_attr="last",
                    )
                ),
                to_attr="live_links",
            )
        )
    )
    return [
        PractitionerHealth(
            user=person,
            links=[
                LinkHealth(
                    link,
                    status_line(
                        link,
                        now,
                        last_run=next(iter(link.last), None),
                        queued=scheduler.is_queued(link.pk),
                    ),
                )
                for link in person.live_links
            ],
        )
        for person in people
    ]
