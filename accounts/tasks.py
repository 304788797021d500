from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(name="accounts.tasks.clear_expired_sessions", ignore_result=True)
def clear_expired_sessions() -> None:
    """Django never deletes expired sessions by itself; this is its documented command."""
    call_command("clearsessions")
