"""*My Account > CalendarSync*: the user's links, Setup and Revoke; and the health check.

Every link is reached through ``_link_for`` (tenant-scoped, the user's own), so another tenant's
or a colleague's link id is a 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Max, Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import current_user, get_object_for_tenant, staff_required
from agenda.models import Meeting
from billing.entitlement import sync_entitlement
from calsync import push, scheduler
from calsync.forms import (
    CalDAVReconnectForm,
    CalDAVSetupForm,
    ChooseCalendarForm,
    GoogleSetupForm,
    MicrosoftSetupForm,
)
from calsync.message_cards import cards_for
from calsync.models import (
    LIVE_CHANNEL_STATES,
    CalendarLink,
    LinkState,
    Provider,
    PushChannel,
    RunStatus,
    SyncMessage,
    SyncRun,
    Target,
)
from calsync.privacy_views import SETUP_PRIVACY, remember_setup_privacy, setup_privacy_form
from calsync.services import (
    dedicated_calendar_name,
    link_create,
    link_reconnect,
    link_revoke,
)
from calsync.status import last_changes, status_line
from calsync.tasks import HEARTBEAT_KEY
from connectors import credentials
from connectors.caldav.connector import CalDAVAccount
from connectors.errors import ConnectorError, SetupError
from connectors.google import oauth as google_oauth
from connectors.google.connector import GoogleAccount
from connectors.microsoft import oauth as microsoft_oauth
from connectors.microsoft.connector import MicrosoftAccount
from connectors.net import check_server_url

# Where a pending CalDAV setup waits between "connect" and "choose a calendar". The password in
# it is encrypted like stored credentials; the entry is removed when the link is made.
PENDING_CALDAV = "calsync:pending-caldav"
# The Synchronize button's per-user rate limit (CALSYNC_SYNC_BUTTON_SECONDS).
SYNC_BUTTON_KEY = "calsync:sync-button:{}"


def _link_for(request: HttpRequest, pk: int) -> CalendarLink:
    return get_object_for_tenant(
        CalendarLink.objects.filter(user=current_user(request)), request, pk=pk
    )


@staff_required
def calendarsync(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    links = list(
        CalendarLink.objects.filter(user=user)
        .order_by("created_at")
        .prefetch_related(
            Prefetch("runs", queryset=SyncRun.objects.order_by("-started_at")[:1], to_attr="last"),
            Prefetch(
                "runs",
                queryset=SyncRun.objects.filter(status=RunStatus.OK).order_by("-started_at")[:1],
                to_attr="last_ok",
            ),
            Prefetch(
                "messages",
                queryset=SyncMessage.objects.filter(dismissed_at__isnull=True).order_by(
                    "-created_at"
                )[:10],
                to_attr="recent",
            ),
            Prefetch(
                "push_channels",
                queryset=PushChannel.objects.filter(state__in=LIVE_CHANNEL_STATES),
                to_attr="live_channels",
            ),
        )
    )
    now = timezone.now()
    for link in links:
        # Instant updates (push) for this link: on, starting, not working, or not available.
        link.push_line = push.describe(link, link.live_channels, now)  # type: ignore[attr-defined]
        queued = scheduler.is_queued(link.pk)
        link.status = status_line(  # type: ignore[attr-defined]
            link, now, last_run=next(iter(link.last), None), queued=queued
        )
        link.changes = last_changes(next(iter(link.last_ok), None))  # type: ignore[attr-defined]
        link.cards = cards_for(link, link.recent)  # type: ignore[attr-defined]
        # The page follows a run under way, and the first sync, without a button press.
        link.watch = link.syncs and (  # type: ignore[attr-defined]
            link.is_running(now) or not link.cursor or queued
        )
    return render(
        request,
        "calsync/calendarsync.html",
        {
            "links": links,
            "google_enabled": google_oauth.enabled(),
            "microsoft_enabled": microsoft_oauth.enabled(),
            "entitlement": sync_entitlement(user),
            "push_enabled": push.enabled(),
        },
    )


def _not_entitled(request: HttpRequest) -> HttpResponse | None:
    """Refuse a setup before any provider is contacted when billing says no (PRODUCT 29-31);
    ``link_create`` checks again when the link is saved."""
    entitlement = sync_entitlement(current_user(request))
    if entitlement.allowed:
        return None
    messages.error(request, entitlement.reason)
    return redirect("calsync:calendarsync")


@staff_required
@require_http_methods(["GET", "POST"])
def setup_caldav(request: HttpRequest) -> HttpResponse:
    """*Set up iCloud or CalDAV*: connect before saving anything (PRODUCT 3)."""
    if refused := _not_entitled(request):
        return refused
    user = current_user(request)
    icloud = request.GET.get("icloud") == "1" or request.POST.get("icloud") == "1"
    form = CalDAVSetupForm(request.POST or None, icloud=icloud)
    privacy = setup_privacy_form(request)
    if request.method == "POST" and form.is_valid() and privacy.is_valid():
        remember_setup_privacy(request, privacy)
        data = form.cleaned_data
        try:
            account = _caldav_account(data)
            if data["target"] == Target.DEDICATED:
                calendar = account.ensure_calendar(dedicated_calendar_name(user))
                return _finish_caldav(
                    request,
                    account.server_url,
                    data["username"],
                    data["password"],
                    calendar.calendar_id,
                    calendar.name,
                    Target.DEDICATED,
                )
            calendars = account.calendars()
        except SetupError as exc:
            form.add_error(None, str(exc))
        else:
            if not calendars:
                form.add_error("target", _("This account has no calendar yet: let us create one."))
            else:
                request.session[PENDING_CALDAV] = {
                    "server_url": account.server_url,
                    "username": data["username"],
                    "secret": credentials.encrypt({"password": data["password"]}),
                    "calendars": [[c.calendar_id, c.name] for c in calendars],
                }
                return redirect("calsync:setup_caldav_choose")
    return render(
        request,
        "calsync/setup_caldav.html",
        {"form": form, "icloud": icloud, "privacy_form": privacy},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def setup_caldav_choose(request: HttpRequest) -> HttpResponse:
    if refused := _not_entitled(request):
        return refused
    pending: dict[str, Any] | None = request.session.get(PENDING_CALDAV)
    if not pending:
        messages.error(request, _("Start the CalDAV setup again: the first step was not found."))
        return redirect("calsync:setup_caldav")
    choices = [(cid, name) for cid, name in pending["calendars"]]
    form = ChooseCalendarForm(request.POST or None, calendars=choices)
    if request.method == "POST" and form.is_valid():
        calendar_id = form.cleaned_data["calendar"]
        password = str(credentials.decrypt(pending["secret"])["password"])
        return _finish_caldav(
            request,
            pending["server_url"],
            pending["username"],
            password,
            calendar_id,
            dict(choices)[calendar_id],
            Target.EXISTING,
        )
    return render(request, "calsync/setup_caldav_choose.html", {"form": form, **pending})


def _finish_caldav(
    request: HttpRequest,
    server_url: str,
    username: str,
    password: str,
    calendar_id: str,
    calendar_name: str,
    target: Target,
) -> HttpResponse:
    request.session.pop(PENDING_CALDAV, None)
    return _save_link(
        request,
        f"Linked “{calendar_name}” on {server_url}.",
        provider=Provider.CALDAV,
        account=username,
        server_url=server_url,
        calendar_id=calendar_id,
        calendar_name=calendar_name,
        target=target,
        secrets={"password": password},
    )


def _save_link(request: HttpRequest, success: str, **link: Any) -> HttpResponse:
    """The last step of every setup: store the link (``link_create`` checks billing and
    duplicates) and say what happened on the CalendarSync page."""
    # The privacy levels chosen on the Setup page (the practice's defaults without).
    link.setdefault("privacy", request.session.pop(SETUP_PRIVACY, None))
    try:
        created = link_create(user=current_user(request), **link)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        # The first sync runs now, on the interactive queue (not at the dispatcher's next round,
        # behind the background polls); the page follows its progress.
        scheduler.request_sync(created.pk)
        messages.success(request, success)
    return redirect("calsync:calendarsync")


@staff_required
@require_http_methods(["GET", "POST"])
def setup_google(request: HttpRequest) -> HttpResponse:
    """*Set up Google Calendar*: choose the calendar, then Google's consent page (PRODUCT 2, 4)."""
    if not google_oauth.enabled():
        messages.error(request, _("Google Calendar is not configured on this installation."))
        return redirect("calsync:calendarsync")
    if refused := _not_entitled(request):
        return refused
    form = GoogleSetupForm(request.POST or None)
    privacy = setup_privacy_form(request)
    if request.method == "POST" and form.is_valid() and privacy.is_valid():
        remember_setup_privacy(request, privacy)
        url = google_oauth.start(
            request.session,
            redirect_uri=request.build_absolute_uri(reverse("calsync:google_callback")),
            target=form.cleaned_data["target"],
        )
        return redirect(url)
    return render(request, "calsync/setup_google.html", {"form": form, "privacy_form": privacy})


@staff_required
@require_GET
def google_callback(request: HttpRequest) -> HttpResponse:
    """Google sends the user back here with ``code`` and ``state`` (or ``error``)."""
    if refused := _not_entitled(request):
        request.session.pop(google_oauth.SESSION_KEY, None)
        return refused
    user = current_user(request)
    try:
        grant = google_oauth.finish(
            request.session,
            callback_url=request.build_absolute_uri(),
            state=request.GET.get("state", ""),
            error=request.GET.get("error", ""),
        )
        if grant.reconnect is not None:
            return _finish_reconnect(
                request, grant.reconnect, grant.account, google_oauth.secrets_of(grant.credentials)
            )
        account = GoogleAccount(
            credentials=grant.credentials,
            api_endpoint=settings.CALSYNC_GOOGLE_API_ENDPOINT,
            timeout=settings.CALSYNC_HTTP_TIMEOUT,
        )
        if grant.target == Target.DEDICATED:
            calendar = account.ensure_calendar(dedicated_calendar_name(user), user.time_zone)
        else:
            calendar = account.calendars()[0]
    except ConnectorError as exc:
        messages.error(request, str(exc))
        return redirect("calsync:calendarsync")
    return _save_link(
        request,
        f"Linked Google Calendar “{calendar.name}” ({grant.account}).",
        provider=Provider.GOOGLE,
        account=grant.account,
        calendar_id=calendar.calendar_id,
        calendar_name=calendar.name,
        target=grant.target,
        # Tokens as they are now: creating the calendar may have refreshed them.
        secrets=google_oauth.secrets_of(grant.credentials),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def setup_microsoft(request: HttpRequest) -> HttpResponse:
    """*Set up Microsoft 365 / Outlook*: choose the calendar, then Microsoft's consent page."""
    if not microsoft_oauth.enabled():
        messages.error(
            request, _("Microsoft 365 / Outlook is not configured on this installation.")
        )
        return redirect("calsync:calendarsync")
    if refused := _not_entitled(request):
        return refused
    form = MicrosoftSetupForm(request.POST or None)
    privacy = setup_privacy_form(request)
    if request.method == "POST" and form.is_valid() and privacy.is_valid():
        remember_setup_privacy(request, privacy)
        try:
            url = microsoft_oauth.start(
                request.session,
                redirect_uri=request.build_absolute_uri(reverse("calsync:microsoft_callback")),
                target=form.cleaned_data["target"],
            )
        except SetupError as exc:
            messages.error(request, str(exc))
            return redirect("calsync:calendarsync")
        return redirect(url)
    return render(request, "calsync/setup_microsoft.html", {"form": form, "privacy_form": privacy})


@staff_required
@require_GET
def microsoft_callback(request: HttpRequest) -> HttpResponse:
    """Microsoft sends the user back here with ``code``, ``state`` and ``client_info`` (or
    ``error``); msal checks the state, sends the PKCE verifier and checks the nonce."""
    if refused := _not_entitled(request):
        request.session.pop(microsoft_oauth.SESSION_KEY, None)
        return refused
    user = current_user(request)
    try:
        grant = microsoft_oauth.finish(request.session, params=request.GET.dict())
        if grant.reconnect is not None:
            return _finish_reconnect(request, grant.reconnect, grant.account, grant.secrets)
        tokens = microsoft_oauth.TokenSource(grant.secrets)
        account = MicrosoftAccount(
            tokens=tokens,
            graph_endpoint=settings.CALSYNC_MICROSOFT_GRAPH_ENDPOINT,
            mailbox=grant.account,
            timeout=settings.CALSYNC_HTTP_TIMEOUT,
        )
        if grant.target == Target.DEDICATED:
            calendar = account.ensure_calendar(dedicated_calendar_name(user))
        else:
            calendar = account.calendars()[0]
    except ConnectorError as exc:
        messages.error(request, str(exc))
        return redirect("calsync:calendarsync")
    return _save_link(
        request,
        f"Linked Microsoft 365 / Outlook “{calendar.name}” ({grant.account}).",
        provider=Provider.MICROSOFT,
        account=grant.account,
        calendar_id=calendar.calendar_id,
        calendar_name=calendar.name,
        target=grant.target,
        # The token cache as it is now (msal may have refreshed while we set up).
        secrets=tokens.secrets(),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def reconnect(request: HttpRequest, pk: int) -> HttpResponse:
    """*Reconnect*: new credentials for a link whose grant or password stopped working (or is
    about to), keeping the link, its mappings and its cursor (PRODUCT 26). Google and Microsoft:
    their consent page again, for the link's own kind of calendar; CalDAV: a new password, with
    the server and user prefilled."""
    link = _link_for(request, pk)
    if link.state == LinkState.REVOKED:
        messages.error(request, _("This calendar link was revoked: set it up again instead."))
        return redirect("calsync:calendarsync")
    if link.provider == Provider.CALDAV:
        return _reconnect_caldav(request, link)
    oauth: Any = google_oauth if link.provider == Provider.GOOGLE else microsoft_oauth
    if not oauth.enabled():
        messages.error(
            request,
            _("%(provider)s is not available on this installation.")
            % {"provider": link.provider_label},
        )
        return redirect("calsync:calendarsync")
    if request.method == "POST":
        callback = (
            "calsync:google_callback" if oauth is google_oauth else "calsync:microsoft_callback"
        )
        try:
            url = oauth.start(
                request.session,
                redirect_uri=request.build_absolute_uri(reverse(callback)),
                target=link.target,
                reconnect=link.pk,
            )
        except SetupError as exc:
            messages.error(request, str(exc))
            return redirect("calsync:calendarsync")
        return redirect(url)
    return render(request, "calsync/reconnect.html", {"link": link})


def _caldav_account(data: dict[str, Any]) -> CalDAVAccount:
    """The account a CalDAV form names, its server URL checked first (SetupError if refused)."""
    return CalDAVAccount(
        server_url=check_server_url(data["server_url"]),
        username=data["username"],
        password=data["password"],
        timeout=settings.CALSYNC_HTTP_TIMEOUT,
    )


def _reconnect_caldav(request: HttpRequest, link: CalendarLink) -> HttpResponse:
    initial = {"server_url": link.server_url, "username": link.account}
    form = CalDAVReconnectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = _caldav_account(data)
            found = {c.calendar_id for c in account.calendars()}
        except SetupError as exc:
            form.add_error(None, str(exc))
        else:
            if link.calendar_id not in found:
                form.add_error(
                    None,
                    _(
                        "The calendar “%(calendar)s” was not found for this user on this server. "
                        "Check the user name, or revoke this link and set up the calendar again."
                    )
                    % {"calendar": link.calendar_name or link.calendar_id},
                )
            else:
                if account.server_url != link.server_url:
                    CalendarLink.objects.filter(pk=link.pk).update(server_url=account.server_url)
                return _finish_reconnect(
                    request, link.pk, data["username"], {"password": data["password"]}
                )
    return render(request, "calsync/reconnect.html", {"link": link, "form": form})


def _finish_reconnect(
    request: HttpRequest, pk: int, account: str, secrets: dict[str, Any]
) -> HttpResponse:
    """The last step of every reconnect: new credentials on the same link, then a run now."""
    link = _link_for(request, pk)
    try:
        link_reconnect(link=link, account=account, secrets=secrets, user=current_user(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("calsync:calendarsync")
    if link.syncs:
        scheduler.request_sync(link.pk)
    messages.success(
        request,
        _("Reconnected %(provider)s (%(account)s): synchronisation continues where it stopped.")
        % {"provider": link.provider_label, "account": link.account},
    )
    return redirect("calsync:calendarsync")


def _consent_page(link: CalendarLink) -> str:
    """Where the owner of a Microsoft link removes CalSync's consent (personal or work)."""
    try:
        return microsoft_oauth.consent_page(credentials.decrypt(link.credentials))
    except (credentials.CredentialError, ValueError):
        return microsoft_oauth.CONSENT_WORK


@staff_required
@require_POST
def allow_deletions(request: HttpRequest, pk: int) -> HttpResponse:
    """The user's answer to the mass-delete guard (PRODUCT 18): the next run may delete."""
    link = _link_for(request, pk)
    CalendarLink.objects.filter(pk=link.pk).update(allow_mass_delete=True)
    messages.success(request, _("The deletions are allowed: the next sync applies them."))
    return redirect("calsync:calendarsync")


@staff_required
@require_POST
def dismiss_message(request: HttpRequest, pk: int) -> HttpResponse:
    """*Dismiss* on a message card: it leaves the page (the row stays, so the same problem is
    not reported again until the item changes)."""
    link = _link_for(request, pk)
    raw = request.POST.get("message", "")
    if not raw.isdigit():
        messages.error(request, _("That message was not found."))
        return redirect("calsync:calendarsync")
    dismissed = SyncMessage.objects.filter(
        link=link, pk=int(raw), dismissed_at__isnull=True
    ).update(dismissed_at=timezone.now())
    if dismissed:
        messages.success(request, _("The message was dismissed."))
    else:
        messages.info(request, _("That message was dismissed already."))
    return redirect("calsync:calendarsync")


@staff_required
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """*Revoke access*: a page that says what happens and asks (not a script dialog, which
    some assistive technology and every browser without script miss), then the revoke."""
    link = _link_for(request, pk)
    if request.method == "GET":
        return render(request, "calsync/revoke.html", {"link": link})
    is_microsoft = link.provider == Provider.MICROSOFT
    consent_page = _consent_page(link) if is_microsoft and link.credentials else ""
    confirmed = link_revoke(link=link)
    if is_microsoft:
        # Microsoft has no per-grant revoke for a web app (connectors/microsoft/oauth.py): the
        # token cache is gone, and the user removes the consent on Microsoft's own page.
        personal, work = microsoft_oauth.CONSENT_PERSONAL, microsoft_oauth.CONSENT_WORK
        if consent_page == personal:
            where = format_html(
                _('<a href="{url}">{url}</a> (personal Microsoft account)'), url=personal
            )
        else:
            where = format_html(
                _(
                    '<a href="{work}">{work}</a> (work or school account; for a personal '
                    'account: <a href="{personal}">{personal}</a>)'
                ),
                work=work,
                personal=personal,
            )
        messages.success(
            request,
            format_html(
                _(
                    "Sync with {provider} ({account}) was revoked and the stored Microsoft "
                    "sign-in deleted. Microsoft has no per-app revoke, so CalSync's consent stays "
                    "on your account until you remove it at {where}. Your meetings and the "
                    "external events stay as they are."
                ),
                provider=link.provider_label,
                account=link.account,
                where=where,
            ),
        )
    elif confirmed:
        messages.success(
            request,
            _(
                "Access to %(provider)s (%(account)s) was revoked and the stored credentials "
                "deleted. Your meetings and the external events stay as they are."
            )
            % {"provider": link.provider_label, "account": link.account},
        )
    else:
        messages.warning(
            request,
            _(
                "Sync stopped and the stored credentials were deleted, but %(provider)s could "
                "not be reached to revoke the grant: remove CalSync's access in your account's "
                "security settings."
            )
            % {"provider": link.provider_label},
        )
    return redirect("calsync:calendarsync")


def _status(link: CalendarLink) -> dict[str, Any]:
    """What the page shows about a link, for the Synchronize button's polling: the same status
    line the page renders (``line``, HTML), and the facts behind it."""
    now = timezone.now()
    link.refresh_from_db()
    run = link.runs.order_by("-started_at").first()
    last_ok = link.runs.filter(status=RunStatus.OK).order_by("-started_at").first()
    running = link.is_running(now)
    queued = scheduler.is_queued(link.pk)
    line = status_line(link, now, last_run=run, queued=queued)
    return {
        "state": link.state,
        "display_state": link.display_state,
        "queued": queued,
        "running": running,
        # Whether the first sync is still to come or under way: the page then follows it
        # without a button press (PRODUCT 23).
        "first_sync": link.syncs and not link.cursor,
        "progress": link.progress(now),
        "line": str(line.html),
        "tone": line.tone,
        "action": line.action,
        "changes": str(last_changes(last_ok)),
        "last_success_at": link.last_success_at.isoformat() if link.last_success_at else None,
        "next_sync_at": link.next_sync_at.isoformat() if link.next_sync_at else None,
        "failure_count": link.failure_count,
        "last_error": link.last_error,
        "last_run": (
            {
                "status": run.status,
                "started_at": run.started_at.isoformat(),
                "summary": run.summary(),
                "error": run.error,
            }
            if run
            else None
        ),
    }


@staff_required
@require_POST
def sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    """*Synchronize*: one interactive run now. Pressing repeatedly neither queues a pile of runs
    (one queued run per link, see ``scheduler.request_sync``) nor floods the queue (one press per
    user every few seconds)."""
    link = _link_for(request, pk)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if not link.syncs:
        text, queued, code = (
            _("This calendar is not syncing, so it cannot be synchronised."),
            False,
            409,
        )
    elif scheduler.sync_paused():
        text, queued, code = (
            _("Synchronisation is paused by the operators; try again later."),
            False,
            503,
        )
    elif not cache.add(
        SYNC_BUTTON_KEY.format(request.user.pk), 1, timeout=settings.CALSYNC_SYNC_BUTTON_SECONDS
    ):
        text, queued, code = (
            _("A synchronisation was just requested; please wait a moment."),
            False,
            429,
        )
    else:
        scheduler.request_sync(link.pk)
        text, queued, code = _("Synchronising…"), True, 202
    if wants_json:
        return JsonResponse({"queued": queued, "message": text, **_status(link)}, status=code)
    (messages.success if queued else messages.warning)(request, text)
    return redirect("calsync:calendarsync")


@staff_required
@require_GET
def sync_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_status(_link_for(request, pk)))


@staff_required
@require_GET
def calendar_version(request: HttpRequest) -> JsonResponse:
    """A number that changes whenever one of the user's meetings changes (the highest change
    number among them, one index lookup): pages that show the calendar poll it and fetch
    themselves again when it moves, so an edit that sync brought in (within seconds, with
    push) shows without the user reloading (static/js/live.js)."""
    version = Meeting.all_objects.filter(owner=current_user(request)).aggregate(v=Max("change_seq"))
    response = JsonResponse({"version": version["v"] or 0})
    response["Cache-Control"] = "no-store"
    return response


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
