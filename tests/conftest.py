from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client as HttpClient

from accounts.models import Role, Tenant, User
from tests.factories import PASSWORD, TenantFactory, UserFactory, entitle

# Fixtures shared by several test packages: real CalDAV servers (Radicale, Xandikos) and the
# provider fakes (tests/fakes/).
pytest_plugins = [
    "tests.caldav_servers",
    "tests.fakes.fixtures",
    "tests.workers",
    "tests.push_helpers",
]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    # The cache is the real Redis (database 15); throttle counters must not leak between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return TenantFactory()


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return TenantFactory(name="Another Practice")


@pytest.fixture
def staff(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, role=Role.STAFF, full_name="Sam Staff")


@pytest.fixture
def colleague(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, role=Role.STAFF, full_name="Cleo Colleague")


@pytest.fixture
def admin_user(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, role=Role.ADMIN, full_name="Ada Admin")


@pytest.fixture
def outsider(other_tenant: Tenant) -> User:
    """A staff member of another tenant."""
    return UserFactory(tenant=other_tenant, role=Role.STAFF, full_name="Otto Outsider")


def login(user: User) -> HttpClient:
    client = HttpClient()
    assert client.login(username=user.email, password=PASSWORD)
    return client


@pytest.fixture
def staff_client(staff: User) -> HttpClient:
    return login(staff)


@pytest.fixture
def admin_client_(admin_user: User) -> HttpClient:
    return login(admin_user)


@pytest.fixture
def entitled(staff: User) -> User:
    """``staff`` with calendar synchronisation bought (a trial), as linking requires."""
    return entitle(staff)
