"""The demo tenant: a small physiotherapy practice with an administrator, three staff members,
resources, clients, and several weeks of meetings around today, repeating ones included.

Everything is created through the services, so the demo data is exactly what users would make.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from accounts.models import Role, Tenant, User
from accounts.services import tenant_create, user_create
from agenda.models import MeetingKind, MonthlyBy, Reminder, rule_from_fields
from agenda.services import (
    MeetingData,
    all_day_bounds,
    client_create,
    meeting_create,
    resource_create,
)
from billing.services import credits_grant, subscription_purchase

DEMO_SLUG = "demo"
DEMO_PASSWORD = "calsync-demo"  # noqa: S105 - published on purpose: it is the demo
DEMO_ZONE = "Europe/Amsterdam"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    name: str


DEMO_USERS = (
    DemoLogin("admin@demo.calsync.test", Role.ADMIN, "Ada Administrator"),
    DemoLogin("alice@demo.calsync.test", Role.STAFF, "Alice Jansen"),
    DemoLogin("bob@demo.calsync.test", Role.STAFF, "Bob de Vries"),
    DemoLogin("carol@demo.calsync.test", Role.STAFF, "Carol Bakker"),
)


def demo_exists() -> bool:
    return Tenant.objects.filter(slug=DEMO_SLUG).exists()


@transaction.atomic
def seed_demo(*, today: date) -> Tenant:
    """Create the demo tenant around ``today``. Call only when ``demo_exists()`` is false."""
    tenant = tenant_create(name="Harbour Physiotherapy", slug=DEMO_SLUG, time_zone=DEMO_ZONE)
    users = {
        login.email.split("@")[0]: user_create(
            tenant=tenant,
            email=login.email,
            role=login.role,
            full_name=login.name,
            password=DEMO_PASSWORD,
        )
        for login in DEMO_USERS
    }
    room1 = resource_create(tenant=tenant, name="Treatment room 1")
    room2 = resource_create(tenant=tenant, name="Treatment room 2")
    gym = resource_create(tenant=tenant, name="Rehab gym")
    clients = [
        client_create(tenant=tenant, name=name, email=email)
        for name, email in [
            ("Mr. P. Visser", "p.visser@example.com"),
            ("Ms. S. de Boer", "s.deboer@example.com"),
            ("Mr. K. Smit", ""),
            ("Ms. L. Mulder", "l.mulder@example.com"),
        ]
    ]
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    monday = today - timedelta(days=today.weekday())
    zone = ZoneInfo(DEMO_ZONE)

    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=zone)

    def meeting(
        owner: User, title: str, day: date, start: tuple[int, int], minutes: int, **extra: object
    ) -> None:
        begin = at(day, *start)
        meeting_create(
            owner=owner,
            data=MeetingData(
                title=title,
                start=begin,
                end=begin + timedelta(minutes=minutes),
                time_zone=DEMO_ZONE,
                **extra,  # type: ignore[arg-type]
            ),
        )

    def weekly(days: list[int], first: date, weeks: int, interval: int = 1) -> object:
        return rule_from_fields(
            repeat="weekly",
            interval=interval,
            weekdays=days,
            monthly_by="",
            until=first + timedelta(weeks=weeks),
            first_day=first,
        )

    start_week = monday - timedelta(weeks=1)
    # Repeating meetings that started before today: they show in every week of the demo.
    meeting(
        alice,
        "Team meeting",
        start_week,
        (8, 30),
        45,
        attendees=(bob, carol),
        resources=(gym,),
        rule=weekly([0, 3], start_week, 26),
        reminder_minutes=Reminder.MIN_15,
        location="Staff room",
    )
    meeting(
        bob,
        "Rehab group class",
        start_week + timedelta(days=1),
        (17, 0),
        60,
        resources=(gym,),
        rule=weekly([1], start_week + timedelta(days=1), 12, interval=2),
    )
    first_tuesday = next(
        d for d in (monday.replace(day=1) + timedelta(days=i) for i in range(7)) if d.weekday() == 1
    )
    meeting(
        carol,
        "Clinical supervision",
        first_tuesday,
        (13, 0),
        60,
        attendees=(alice,),
        rule=rule_from_fields(
            repeat="monthly",
            interval=1,
            weekdays=[],
            monthly_by=MonthlyBy.NTH_WEEKDAY,
            until=first_tuesday + timedelta(days=365),
            first_day=first_tuesday,
        ),
    )
    meeting(
        alice,
        "Quarterly accounts review",
        monday + timedelta(days=2),
        (16, 0),
        30,
        kind=MeetingKind.PERSONAL,
        rule=rule_from_fields(
            repeat="monthly",
            interval=3,
            weekdays=[],
            monthly_by=MonthlyBy.DAY_OF_MONTH,
            until=monday + timedelta(days=730),
            first_day=monday + timedelta(days=2),
        ),
    )
    birthday_start, birthday_end = all_day_bounds(
        monday + timedelta(days=4), monday + timedelta(days=4), DEMO_ZONE
    )
    meeting_create(
        owner=carol,
        data=MeetingData(
            title="Practice anniversary",
            start=birthday_start,
            end=birthday_end,
            time_zone=DEMO_ZONE,
            all_day=True,
            visible_for_all=True,
            rule=rule_from_fields(
                repeat="yearly",
                interval=1,
                weekdays=[],
                monthly_by="",
                until=monday + timedelta(days=365 * 10),
                first_day=monday + timedelta(days=4),
            ),
        ),
    )
    # Client appointments over four weeks.
    for week in range(4):
        base = start_week + timedelta(weeks=week)
        for i, (owner, room) in enumerate([(alice, room1), (bob, room2), (carol, room1)]):
            client = clients[(week + i) % len(clients)]
            meeting(
                owner,
                f"Treatment: {client.name}",
                base + timedelta(days=i),
                (10 + i, 0),
                45,
                client=client,
                resources=(room,),
                reminder_minutes=Reminder.HOUR_1,
            )
            meeting(
                owner,
                f"Follow-up: {clients[(week + i + 1) % len(clients)].name}",
                base + timedelta(days=i + 2),
                (14, 30),
                30,
                client=clients[(week + i + 1) % len(clients)],
                resources=(room,),
            )
    # Personal meetings and one with outside attendees.
    meeting(alice, "Dentist", monday + timedelta(days=1), (8, 0), 45, kind=MeetingKind.PERSONAL)
    meeting(
        bob,
        "Lunch with the hospital liaison",
        monday + timedelta(days=3),
        (12, 0),
        60,
        other_attendees=("liaison@hospital.example",),
        location="Café de Haven",
    )
    meeting(
        carol,
        "Conference call: sports clinic",
        monday + timedelta(days=8),
        (15, 0),
        30,
        attendees=(alice,),
        other_attendees=("coach@sportsclinic.example",),
    )
    # Billing: some credits, and Alice's free trial, so Settings > Integrations has something to
    # show; Bob and Carol can still be bought for.
    credits_grant(tenant=tenant, amount=100, reason="Demo credits", key=f"demo:{tenant.pk}")
    subscription_purchase(tenant=tenant, user=alice, actor=users["admin"])
    return tenant
