"""The providers' webhook endpoints (PRODUCT 36): doors, not rooms (STYLE 13).

Public and CSRF-exempt (providers have no session), they authenticate the notification against
its channel's secret in constant time, answer at once, and leave the work to a debounced
interactive run (``calsync.push``). Google wants a 2xx soon and retries 5xx; Graph wants a 2xx
within 3 seconds (it retries for hours and throttles slow endpoints) and answers its validation
handshake within 10 seconds. No provider call is ever made here.
"""

from __future__ import annotations

import html
import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calsync import push

log = logging.getLogger(__name__)

# A Graph POST carries at most this many notifications that we look at; real batches are small.
MAX_ITEMS = 1000
# The validation token is opaque; Graph's are a sentence with a request id. Longer is not Graph.
MAX_TOKEN = 1024


def _plain(status: int, text: str = "") -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def google(request: HttpRequest) -> HttpResponse:
    """A Google channel notification (PROTOCOLS §1.9): headers only, the body is empty. The
    first message of a channel is ``sync`` (acknowledged, nothing to read); ``exists`` and
    ``not_exists`` mean the calendar changed."""
    status = push.receive_google(
        channel_id=request.headers.get("X-Goog-Channel-ID", ""),
        token=request.headers.get("X-Goog-Channel-Token", ""),
        state=request.headers.get("X-Goog-Resource-State", ""),
        resource_id=request.headers.get("X-Goog-Resource-ID", ""),
    )
    return _plain(status)


@csrf_exempt
@require_POST
def microsoft(request: HttpRequest) -> HttpResponse:
    """Graph (PROTOCOLS §2.6): the validation handshake (``?validationToken=``: answered with
    the URL-decoded token as ``text/plain``), or a batch of change and lifecycle notifications
    (answered 202 when any of them was ours, see ``push.receive_microsoft``)."""
    token = request.GET.get("validationToken")
    if token is not None:
        if len(token) > MAX_TOKEN:
            return _plain(400, "This is not a validation token.")
        # Django has URL-decoded it; escaping is the documented good practice (Graph never
        # sends markup, so a real token comes back unchanged).
        return _plain(200, html.escape(token, quote=False))
    try:
        payload = json.loads(request.body or b"null")
    except RequestDataTooBig:
        return _plain(413, "The notification is too large.")
    except (ValueError, UnicodeDecodeError):
        return _plain(400, "The notification is not JSON.")
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return _plain(400, 'The notification has no "value" list.')
    return _plain(push.receive_microsoft(items[:MAX_ITEMS]))
