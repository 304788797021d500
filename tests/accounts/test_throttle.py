"""Login and password-reset throttles (accounts/throttle.py): per account and per client
address, on the app's login and the Django admin's, with the client address taken from a
trusted proxy only, and device cookies so an attacker cannot keep a user out."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.test import RequestFactory
from django.test.utils import override_settings
from django.urls import reverse

from accounts import throttle
from accounts.models import Role, Tenant, User
from accounts.services import user_create
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/account/login/"
ADMIN_LOGIN = "/admin/login/"


def browser(address: str = "198.51.100.7", **headers: str) -> HttpClient:
    return HttpClient(REMOTE_ADDR=address, **headers)


def attempt(client: HttpClient, email: str, password: str, url: str = LOGIN) -> bytes:
    return client.post(url, {"username": email, "password": password}).content


def logged_in(client: HttpClient) -> bool:
    return "_auth_user_id" in client.session


# --- the Django admin's login -----------------------------------------------------------------


def test_the_admin_login_is_throttled() -> None:
    operator = User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = browser()
    for _ in range(5):
        assert b"Please enter the correct" in attempt(client, operator.email, "wrong", ADMIN_LOGIN)
    page = attempt(client, operator.email, "ops-password-123", ADMIN_LOGIN)
    assert b"Too many failed attempts" in page
    assert not logged_in(client)
    # From another address the account is locked all the same (the per-account counter).
    other = browser("203.0.113.50")
    assert b"Too many failed attempts" in attempt(
        other, operator.email, "ops-password-123", ADMIN_LOGIN
    )


# --- per account and per client address ---------------------------------------------------------


def test_one_users_failures_do_not_lock_out_colleagues_behind_the_same_address(
    staff: User, colleague: User
) -> None:
    office = browser("192.0.2.10")
    for _ in range(5):
        attempt(office, staff.email, "wrong")
    assert b"Too many failed attempts" in attempt(office, staff.email, PASSWORD)
    colleague_browser = browser("192.0.2.10")
    attempt(colleague_browser, colleague.email, PASSWORD)
    assert logged_in(colleague_browser)


@override_settings(ACCOUNTS_LOGIN_MAX_FAILURES_PER_CLIENT=8)
def test_one_address_guessing_across_accounts_is_stopped(tenant: Tenant, staff: User) -> None:
    guesser = browser("203.0.113.66")
    for i in range(8):
        attempt(guesser, f"nobody{i}@example.test", "wrong")
    assert b"Too many failed attempts" in attempt(guesser, staff.email, PASSWORD)
    assert not logged_in(guesser)
    # The account itself is not locked: its owner logs in from elsewhere.
    owner = browser("198.51.100.20")
    attempt(owner, staff.email, PASSWORD)
    assert logged_in(owner)


# --- device cookies: an attacker cannot keep the owner out --------------------------------------


def test_a_trusted_browser_logs_in_while_an_attacker_keeps_the_account_locked(
    staff: User,
) -> None:
    usual = browser("198.51.100.30")
    attempt(usual, staff.email, PASSWORD)
    assert logged_in(usual) and throttle.DEVICE_COOKIE in usual.cookies
    usual.post(reverse("accounts:logout"))

    attacker = browser("203.0.113.99")
    for _ in range(10):
        attempt(attacker, staff.email, "guess")
    assert b"Too many failed attempts" in attempt(attacker, staff.email, PASSWORD)
    new_browser = browser("198.51.100.30")
    assert b"Too many failed attempts" in attempt(new_browser, staff.email, PASSWORD)

    attempt(usual, staff.email, PASSWORD)
    assert logged_in(usual)


def test_failures_on_a_trusted_browser_count_against_that_browser(staff: User) -> None:
    usual = browser()
    attempt(usual, staff.email, PASSWORD)
    usual.post(reverse("accounts:logout"))
    for _ in range(5):
        attempt(usual, staff.email, "typo")
    assert b"Too many failed attempts" in attempt(usual, staff.email, PASSWORD)
    # The account's own counter was not touched: a browser without the cookie is not locked.
    other = browser("198.51.100.40")
    attempt(other, staff.email, PASSWORD)
    assert logged_in(other)


def test_a_device_cookie_of_another_account_or_forged_is_not_trusted(
    staff: User, colleague: User
) -> None:
    client = browser()
    client.cookies[throttle.DEVICE_COOKIE] = throttle.device_cookie_value(colleague.email)
    for _ in range(5):
        attempt(client, staff.email, "wrong")
    assert b"Too many failed attempts" in attempt(browser("198.51.100.41"), staff.email, PASSWORD)
    forged = browser("198.51.100.42")
    forged.cookies[throttle.DEVICE_COOKIE] = "eyJhIjoiMSJ9:forged:signature"
    assert b"Too many failed attempts" in attempt(forged, staff.email, PASSWORD)


def test_a_password_reset_lifts_the_lock_and_trusts_the_browser(staff: User) -> None:
    attacker = browser("203.0.113.99")
    for _ in range(5):
        attempt(attacker, staff.email, "guess")
    owner = browser("198.51.100.50")
    owner.post(reverse("accounts:password_reset"), {"email": staff.email})
    link = re.search(r"http://testserver(/account/password-reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    form_page = owner.get(link.group(1), follow=True).redirect_chain[-1][0]
    new = "a-brand-new-passphrase-42"
    owner.post(form_page, {"new_password1": new, "new_password2": new})
    assert throttle.DEVICE_COOKIE in owner.cookies
    attempt(owner, staff.email, new)
    assert logged_in(owner)


# --- the client address -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        ([], "198.51.100.7", "203.0.113.1", "198.51.100.7"),  # no proxy trusted: ignored
        (["10.0.0.1"], "198.51.100.7", "203.0.113.1", "198.51.100.7"),  # not from the proxy
        (["10.0.0.1"], "10.0.0.1", "203.0.113.1", "203.0.113.1"),
        (["10.0.0.1"], "10.0.0.1", "6.6.6.6, 203.0.113.1", "203.0.113.1"),  # spoofed left part
        (["10.0.0.0/24"], "10.0.0.1", "203.0.113.1, 10.0.0.2", "203.0.113.1"),  # two proxies
        (["10.0.0.0/24"], "10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted
        (["10.0.0.1"], "10.0.0.1", "", "10.0.0.1"),  # the proxy sent none
        (["10.0.0.1"], "10.0.0.1", "evil, 203.0.113.1", "203.0.113.1"),
        (["10.0.0.1"], "10.0.0.1", "203.0.113.1, garbage", "10.0.0.1"),
        (["10.0.0.1"], "10.0.0.1", "203.0.113.1:4711", "203.0.113.1"),
        (["10.0.0.1"], "10.0.0.1", "[2001:db8::7]:4711", "2001:db8::7"),
        (["::1"], "::1", "::ffff:203.0.113.1", "203.0.113.1"),
    ],
)
def test_the_client_address(proxies: list[str], remote: str, forwarded: str, expected: str) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(CALSYNC_TRUSTED_PROXIES=proxies):
        assert throttle.client_address(request) == expected


@override_settings(CALSYNC_TRUSTED_PROXIES=["10.0.0.1"], ACCOUNTS_LOGIN_MAX_FAILURES_PER_CLIENT=6)
def test_behind_the_trusted_proxy_each_client_has_its_own_counter(staff: User) -> None:
    guesser = browser("10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66")
    for i in range(6):
        attempt(guesser, f"nobody{i}@example.test", "wrong")
    assert b"Too many failed attempts" in attempt(guesser, "x@example.test", "wrong")
    # Another client through the same proxy (and a spoofed header from the guesser) is not the
    # guesser: only the right-most untrusted hop counts.
    for header in ("198.51.100.70", "203.0.113.66, 198.51.100.70"):
        client = browser("10.0.0.1", HTTP_X_FORWARDED_FOR=header)
        attempt(client, staff.email, PASSWORD)
        assert logged_in(client)
        client.post(reverse("accounts:logout"))


# --- password reset -----------------------------------------------------------------------------


def test_an_account_created_without_a_password_gets_a_working_reset(tenant: Tenant) -> None:
    user = user_create(tenant=tenant, email="new@example.test", role=Role.STAFF)
    assert not user.has_usable_password()
    browser().post(reverse("accounts:password_reset"), {"email": "New@Example.test"})
    assert [m.to for m in mail.outbox] == [["new@example.test"]]
    link = re.search(r"http://testserver(/account/password-reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    client = browser()
    form_page = client.get(link.group(1), follow=True).redirect_chain[-1][0]
    chosen = "my-first-passphrase-42"
    client.post(form_page, {"new_password1": chosen, "new_password2": chosen})
    assert HttpClient().login(username="new@example.test", password=chosen)


def test_inactive_accounts_get_no_reset(tenant: Tenant) -> None:
    UserFactory(tenant=tenant, email="gone@example.test", is_active=False)
    browser().post(reverse("accounts:password_reset"), {"email": "gone@example.test"})
    assert mail.outbox == []


def test_reset_requests_are_limited_per_address(staff: User) -> None:
    for i in range(3):
        response = browser(f"198.51.100.{i + 1}").post(
            reverse("accounts:password_reset"), {"email": staff.email}
        )
        assert response.status_code == 302
    response = browser("198.51.100.9").post(
        reverse("accounts:password_reset"), {"email": staff.email}
    )
    assert response.status_code == 200 and b"Too many password reset requests" in response.content
    assert len(mail.outbox) == 3
    # An address with no account is limited alike, so the answer reveals nothing.
    for _ in range(3):
        browser().post(reverse("accounts:password_reset"), {"email": "nobody@example.test"})
    response = browser("198.51.100.8").post(
        reverse("accounts:password_reset"), {"email": "nobody@example.test"}
    )
    assert b"Too many password reset requests" in response.content


@override_settings(ACCOUNTS_RESET_MAX_PER_CLIENT=4)
def test_reset_requests_are_limited_per_client(tenant: Tenant, staff: User) -> None:
    client = browser("203.0.113.77")
    for i in range(4):
        client.post(reverse("accounts:password_reset"), {"email": f"someone{i}@example.test"})
    response = client.post(reverse("accounts:password_reset"), {"email": staff.email})
    assert b"Too many password reset requests" in response.content
    assert mail.outbox == []
    browser("198.51.100.80").post(reverse("accounts:password_reset"), {"email": staff.email})
    assert len(mail.outbox) == 1
