"""The CalendarSync page and the health check."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.access import current_user, staff_required
from billing.entitlement import sync_entitlement
from calsync.tasks import HEARTBEAT_KEY


@staff_required
def calendarsync(request: HttpRequest) -> HttpResponse:
    """*My Account > CalendarSync*. The links, their state and the Setup buttons arrive with the
    connectors; until then the page says plainly that nothing can be linked yet."""
    return render(
        request,
        "calsync/calendarsync.html",
        {"entitlement": sync_entitlement(current_user(request))},
    )


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker compose: the database answers (503 if not), and the
    time of the last beat -> worker heartbeat, for operators (not a failure by itself, so the web
    stays up while workers restart)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as exc:  # any driver error means "not healthy"; report its class only
        database = f"error: {type(exc).__name__}"
    try:
        heartbeat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # a cache outage is reported, not raised
        heartbeat = f"error: {type(exc).__name__}"
    status = 200 if database == "ok" else 503
    return JsonResponse({"database": database, "worker_heartbeat": heartbeat}, status=status)
