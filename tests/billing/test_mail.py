"""Billing's e-mails go out one by one: a mail the server refuses loses no other, and a name
stored before names were validated cannot break a subject."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends.locmem import EmailBackend
from django.test.utils import override_settings

from accounts.models import Role, Tenant, User
from billing.services import renewals_run, subscription_purchase
from tests.billing.conftest import NOW, grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class RefusingBackend(EmailBackend):
    """locmem, but the server refuses every recipient whose address starts with "refused"."""

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        for message in messages:
            refused = [a for a in message.to if a.startswith("refused")]
            if refused:
                raise smtplib.SMTPRecipientsRefused({a: (550, b"no such user") for a in refused})
            super().send_messages([message])
        return len(messages)


@override_settings(EMAIL_BACKEND="tests.billing.test_mail.RefusingBackend")
def test_one_refused_mail_loses_no_other(
    tenant: Tenant, staff: User, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # Administrators are mailed first (billing.services._notify): the refused one is first.
    refused = UserFactory(tenant=tenant, role=Role.ADMIN, email="refused@example.test")
    other_admin = UserFactory(tenant=tenant, role=Role.ADMIN, email="zed-admin@example.test")
    sub = subscription_purchase(tenant=tenant, user=staff, actor=refused, now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        assert renewals_run(now=sub.period_end) == {"lapsed": 1}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([other_admin.email, staff.email])


def test_a_stored_name_with_a_line_break_still_gets_its_mail(
    tenant: Tenant, admin_user: User, staff: User, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user, now=NOW)
    # Written around the validation, as a row from before it could be.
    User.objects.filter(pk=staff.pk).update(full_name="Eve\r\nBcc: attacker@example.test")
    grant(tenant, 10)
    with django_capture_on_commit_callbacks(execute=True):
        assert renewals_run(now=sub.period_end) == {"lapsed": 1}
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert message.subject == (
            "CalendarSync paused for Eve Bcc: attacker@example.test: not enough credits"
        )
        assert message.bcc == [] and "attacker@example.test" not in message.recipients()
