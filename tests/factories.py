"""factory_boy factories for our models. They go through the services where one exists, so test
data is made the way users make it (change numbers, validation)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import factory

from accounts.models import Role, Tenant, User
from agenda.models import Client, Meeting, Resource
from agenda.services import MeetingData, meeting_create
from recurrence import Rule

PASSWORD = "correct horse battery staple"


class TenantFactory(factory.django.DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Practice {n}")
    slug = factory.Sequence(lambda n: f"practice-{n}")
    time_zone = "Europe/Amsterdam"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Sequence(lambda n: f"User {n}")
    tenant = factory.SubFactory(TenantFactory)
    role = Role.STAFF
    time_zone = "Europe/Amsterdam"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


class ResourceFactory(factory.django.DjangoModelFactory[Resource]):
    class Meta:
        model = Resource

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Room {n}")


class ClientFactory(factory.django.DjangoModelFactory[Client]):
    class Meta:
        model = Client

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Client {n}")


def make_meeting(
    owner: User,
    *,
    title: str = "Meeting",
    start: datetime | None = None,
    minutes: int = 60,
    zone: str = "Europe/Amsterdam",
    rule: Rule | None = None,
    **extra: Any,
) -> Meeting:
    """A meeting created through ``meeting_create``."""
    begin = start or datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo(zone))
    data = MeetingData(
        title=title,
        start=begin,
        end=begin + timedelta(minutes=minutes),
        time_zone=zone,
        rule=rule,
        **extra,
    )
    return meeting_create(owner=owner, data=data)


def entitle(user: User) -> User:
    """Buy calendar synchronisation for staff member ``user`` (a trial), as linking requires."""
    from billing.services import subscription_purchase

    assert user.tenant is not None
    admin = UserFactory(tenant=user.tenant, role=Role.ADMIN)
    subscription_purchase(tenant=user.tenant, user=user, actor=admin)
    return user
