"""Public sign-up of a practice with e-mail verification (issue 15 part 1, feature 40)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client as HttpClient
from django.test import TestCase, override_settings
from django.urls import reverse

from accounts.models import AuditEntry, PendingSignup, Role, Tenant, User
from accounts.services import SignupLinkError, signup_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FORM = {
    "practice_name": "Dune Dental",
    "time_zone": "Europe/Amsterdam",
    "full_name": "Dana Dentist",
    "email": "Dana@Dune.example",
    "password1": "a long sign-up password 7",
    "password2": "a long sign-up password 7",
}


def sign_up(client: HttpClient | None = None, **changes: str) -> Any:
    # The e-mail goes out once the transaction commits (the test's transaction never does).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return (client or HttpClient()).post(reverse("accounts:signup"), {**FORM, **changes})


def link_in(message: mail.EmailMessage) -> str:
    found = re.search(r"http://testserver(/account/signup/verify/[^/\s]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


def test_sign_up_verify_and_land_on_the_checklist() -> None:
    response = sign_up()
    assert response.status_code == 302 and response["Location"] == reverse("accounts:signup_sent")
    # Nothing exists before the address is verified.
    assert not Tenant.objects.exists() and not User.objects.exists()
    (message,) = mail.outbox
    assert message.to == ["dana@dune.example"]
    assert "Confirm your e-mail address" in message.subject
    client = HttpClient()
    response = client.get(link_in(message))
    assert response.status_code == 302 and response["Location"] == reverse("welcome")
    tenant = Tenant.objects.get()
    user = User.objects.get()
    assert (tenant.name, tenant.time_zone, tenant.slug) == (
        "Dune Dental",
        "Europe/Amsterdam",
        "dune-dental",
    )
    assert (user.email, user.role, user.full_name, user.tenant) == (
        "dana@dune.example",
        Role.ADMIN,
        "Dana Dentist",
        tenant,
    )
    assert user.check_password(FORM["password1"])
    assert not PendingSignup.objects.exists()
    assert AuditEntry.objects.filter(tenant=tenant, action="accounts.signup").count() == 1
    # Logged in, the first screen is the checklist.
    page = client.get(reverse("welcome")).content.decode()
    assert "Invite your practitioners" in page and "Buy calendar synchronisation" in page
    assert 'data-done="no"' in page
    # The password chosen at sign-up logs in.
    assert HttpClient().login(username="dana@dune.example", password=FORM["password1"])


def test_a_double_submit_and_a_double_click_make_one_practice() -> None:
    sign_up()
    sign_up()  # the same form sent twice
    assert PendingSignup.objects.count() == 1
    first, second = mail.outbox
    assert HttpClient().get(link_in(first)).status_code == 302
    again = HttpClient().get(link_in(second))  # the other e-mail, or a second click
    assert again.status_code == 200
    assert "confirmed already" in again.content.decode()
    assert Tenant.objects.count() == 1 and User.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_verifications_make_one_practice() -> None:
    sign_up()
    token = link_in(mail.outbox[0]).rstrip("/").rsplit("/", 1)[1]
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def verify() -> None:
        barrier.wait()
        try:
            signup_verify(link_token=token)
            outcomes.append("created")
        except SignupLinkError as exc:
            outcomes.append(exc.kind)
        finally:
            connection.close()

    threads = [threading.Thread(target=verify) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["created", "used", "used", "used"]
    assert Tenant.objects.count() == 1 and User.objects.count() == 1


def test_a_taken_address_gets_a_clear_error() -> None:
    UserFactory(email="dana@dune.example")
    page = sign_up().content.decode()
    assert "An account with this e-mail address exists already" in page
    assert not PendingSignup.objects.exists() and mail.outbox == []


def test_weak_password_and_bad_fields_are_refused_with_messages() -> None:
    page = sign_up(password1="12345678", password2="12345678").content.decode()
    assert "This password is too common" in page or "entirely numeric" in page
    page = sign_up(time_zone="Mars/Olympus", practice_name="Two\nlines").content.decode()
    assert "Unknown time zone Mars/Olympus" in page and "must be on one line" in page
    page = sign_up(password2="something else").content.decode()
    assert "The two passwords differ" in page
    assert not PendingSignup.objects.exists()


def test_an_expired_or_altered_link_creates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    sign_up()
    url = link_in(mail.outbox[0])
    altered = HttpClient().get(url[:-3] + "xx/")
    assert altered.status_code == 400 and "not valid" in altered.content.decode()
    later = time.time() + 49 * 3600  # the link works for 48 hours
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    expired = HttpClient().get(url)
    assert expired.status_code == 400 and "too old" in expired.content.decode()
    assert not Tenant.objects.exists()


def test_the_address_taken_before_verifying_is_refused() -> None:
    sign_up()
    UserFactory(email="dana@dune.example")  # e.g. invited elsewhere meanwhile
    page = HttpClient().get(link_in(mail.outbox[0])).content.decode()
    assert "was made in the meantime" in page
    assert Tenant.objects.count() == 1  # only the factory's


@override_settings(ACCOUNTS_SIGNUP_MAX_PER_EMAIL=2, ACCOUNTS_SIGNUP_MAX_PER_CLIENT=4)
def test_sign_up_is_throttled_per_address_and_per_client() -> None:
    assert sign_up().status_code == 302
    assert sign_up().status_code == 302
    page = sign_up().content.decode()
    assert "Too many sign-up requests" in page
    assert len(mail.outbox) == 2
    # Per client: other addresses from the same client address.
    assert sign_up(email="one@x.example").status_code == 302
    page = sign_up(email="two@x.example").content.decode()
    assert "Too many sign-up requests" in page
    # Another client may still sign up that second address.
    other = HttpClient(REMOTE_ADDR="203.0.113.9")
    assert sign_up(other, email="two@x.example").status_code == 302


@override_settings(ACCOUNTS_SIGNUP_OPEN=False)
def test_invite_only_installations_have_no_sign_up() -> None:
    client = HttpClient()
    assert client.get(reverse("accounts:signup")).status_code == 404
    assert sign_up().status_code == 404
    assert "Sign up" not in client.get(reverse("accounts:login")).content.decode()
    assert not PendingSignup.objects.exists()


def test_the_login_page_offers_sign_up() -> None:
    page = HttpClient().get(reverse("accounts:login")).content.decode()
    assert reverse("accounts:signup") in page


def test_slugs_stay_unique_for_the_same_practice_name() -> None:
    for i, email in enumerate(["a@x.example", "b@x.example"]):
        sign_up(email=email)
        HttpClient().get(link_in(mail.outbox[i]))
    slugs = sorted(Tenant.objects.values_list("slug", flat=True))
    assert len(set(slugs)) == 2 and slugs[0] == "dune-dental"


def test_expired_pending_sign_ups_are_forgotten() -> None:
    from datetime import timedelta

    from django.utils import timezone

    sign_up(email="old@x.example")
    PendingSignup.objects.update(updated_at=timezone.now() - timedelta(hours=49))
    sign_up(email="new@x.example")
    assert list(PendingSignup.objects.values_list("email", flat=True)) == ["new@x.example"]
