"""The accounts e-mails in the reader's language (issue 18 §11).

An invited person has no account yet, so no language of their own: the invitation goes out in
the language of the administrator's page that sent it. The Dutch texts below are the Dutch
catalogue's (locale/nl/LC_MESSAGES/django.po).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse

from accounts.models import AuditEntry, Tenant, User
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _invite(client: Client, email: str, accept_language: str) -> mail.EmailMessage:
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("settings_people"),
            {"email": email, "role": "staff"},
            HTTP_ACCEPT_LANGUAGE=accept_language,
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message: mail.EmailMessage = mail.outbox[0]
    assert message.to == [email]
    return message


def test_the_invitation_goes_out_in_dutch_from_a_dutch_page(
    admin_user: User, tenant: Tenant
) -> None:
    assert admin_user.language == ""  # no choice made: the browser's language decides the page
    message = _invite(login(admin_user), "ivy@example.test", "nl-NL,nl;q=0.9,en;q=0.5")

    assert message.subject == f"Je bent uitgenodigd voor {tenant.name} op CalSync"
    body = str(message.body)
    assert body.startswith("Hallo,\n\n")
    assert f"nodigt je uit voor {tenant.name} op CalSync, als medewerker." in body
    assert f"De link werkt één keer, {settings.ACCOUNTS_INVITATION_DAYS} dagen lang." in body
    assert "invites you" not in body and "The link works" not in body
    # The audit entry is the operators' record: in the installation's language, not the page's.
    entry = AuditEntry.objects.get(action="accounts.invite")
    assert entry.target == "ivy@example.test as staff"


def test_the_invitation_follows_the_administrators_chosen_language_over_the_browser(
    admin_user: User, tenant: Tenant
) -> None:
    admin_user.language = "en"
    admin_user.save(update_fields=["language"])
    message = _invite(login(admin_user), "ivy@example.test", "nl")

    assert message.subject == f"You are invited to {tenant.name} on CalSync"
    assert f"invites you to {tenant.name} on CalSync, as staff." in str(message.body)


def _reset(email: str, accept_language: str) -> mail.EmailMessage:
    response = Client().post(
        reverse("accounts:password_reset"), {"email": email}, HTTP_ACCEPT_LANGUAGE=accept_language
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message: mail.EmailMessage = mail.outbox[0]
    return message


def test_the_password_reset_e_mail_is_in_the_account_holders_language(staff: User) -> None:
    """The account holder's choice wins over the language of the page that asked."""
    staff.language = "nl"
    staff.save(update_fields=["language"])
    message = _reset(staff.email, "en")
    assert message.subject == "Je CalSync-wachtwoord"
    assert str(message.body).startswith(f"Hallo {staff.full_name},\n\n")

    mail.outbox.clear()
    staff.language = "en"
    staff.save(update_fields=["language"])
    assert _reset(staff.email, "nl").subject == "Your CalSync password"


def test_an_account_without_a_language_gets_the_reset_in_the_language_of_the_page(
    staff: User,
) -> None:
    """Made by an operator and never logged in: no choice and no browser language known yet."""
    assert (staff.language, staff.browser_language) == ("", "")
    message = _reset(staff.email, "nl")
    assert message.subject == "Je CalSync-wachtwoord"
    assert "Iemand heeft gevraagd het wachtwoord van je CalSync-account" in str(message.body)


def test_my_account_says_saved_in_the_language_just_chosen(staff: User) -> None:
    client = login(staff)
    details = {"full_name": staff.full_name, "time_zone": staff.time_zone}
    page = client.post(reverse("accounts:my_account"), {**details, "language": "nl"}, follow=True)
    assert page.headers["Content-Language"] == "nl"
    assert "Je gegevens zijn opgeslagen." in page.content.decode()

    page = client.post(
        reverse("accounts:my_account"),
        {**details, "language": ""},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert page.headers["Content-Language"] == "en"
    assert "Your details were saved." in page.content.decode()


def test_a_failed_login_names_the_e_mail_address_in_dutch(staff: User) -> None:
    page = Client().post(
        reverse("accounts:login"),
        {"username": staff.email, "password": "not the password"},
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert page.status_code == 200
    # Django's own message, with the field's name from the Dutch catalogue.
    assert "e-mailadres en wachtwoord" in page.content.decode()
