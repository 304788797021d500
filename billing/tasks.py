"""Billing's Celery task: thin, as STYLE 7 asks; the service does the work and is idempotent."""

from __future__ import annotations

from celery import shared_task

from billing.services import low_balance_warnings_send, renewals_run


@shared_task(name="billing.tasks.renew_subscriptions", ignore_result=True)
def renew_subscriptions() -> dict[str, int]:
    """Beat sends this every 15 minutes: renew, lapse, resume and close what is due. Running it
    twice, or on two workers at once, charges nothing twice (renewal keys, row locks)."""
    return dict(renewals_run())


@shared_task(name="billing.tasks.warn_low_balance", ignore_result=True)
def warn_low_balance() -> int:
    """Beat sends this hourly: e-mail administrators whose balance will not cover a renewal due
    soon. At most one e-mail per practice and renewal, however often it runs."""
    return low_balance_warnings_send()
