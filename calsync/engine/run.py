"""Running one link end to end (ARCHITECTURE.md, "Data flow of one sync run").

1. Lease the link; the lease's number is a fencing token that every later write of sync state
   checks, so a run whose lease expired cannot write after another run took over.
2. Read the provider's changes (incremental; a ``CursorExpired`` becomes a full listing and a diff
   against the mappings) and the agenda's changes up to the committed high-water mark.
3. Plan (pure), then apply: provider writes one by one, each recorded in its mapping as soon as it
   lands; local writes through the agenda's services, each with its mapping in one transaction.
4. Store the cursor and the watermark last, after everything above committed (QUALITY I9).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import User
from agenda.changeseq import committed_high_water
from agenda.models import Meeting
from agenda.selectors import meetings_changed_since
from agenda.services import meeting_create, meeting_delete, meeting_update
from calsync import history, metrics
from calsync.engine import plan as p
from calsync.engine.fields import (
    FULL_PRIVACY,
    SYNCED_FIELDS,
    Directory,
    ResourceNames,
    event_from_snapshot,
    kind_of,
    meeting_data_from_snapshot,
    resource_names,
    snapshot_of_event,
    snapshot_of_meeting,
)
from calsync.logcontext import bound
from calsync.models import (
    CalendarLink,
    EventMapping,
    LinkState,
    RunStatus,
    SyncMessage,
    SyncRun,
)
from calsync.privacy import link_privacy
from calsync.texts import to_source
from connectors import credentials, quota, registry
from connectors.base import Connector, NewItem, Written
from connectors.errors import (
    AuthRevoked,
    ConnectorError,
    CursorExpired,
    EtagMismatch,
    InvalidData,
    NotFound,
    OverQuota,
    RateLimited,
)
from connectors.events import RemoteItem
from recurrence import Flag, Message, Text
from recurrence.translation import gettext_noop

log = logging.getLogger(__name__)


def _lease() -> timedelta:
    """How long a run may hold its link (CALSYNC_LEASE_SECONDS): longer than any run (the task's
    hard time limit), shorter than Redis' visibility timeout, so a run redelivered after its worker
    died finds the lease expired and takes over."""
    return timedelta(seconds=settings.CALSYNC_LEASE_SECONDS)


UNIMPORTABLE = {Flag.DAILY, Flag.UNSUPPORTED}

# More meeting writes than this in one run make it bulk work for the quota governor.
BULK_WRITES = 50

# Failures that concern one item's data (its parsing, mapping, size, a value out of range, a
# write the provider refused as invalid): the item is skipped with a message that names it and
# the rest of the run goes on (QUALITY "Faults and load"). Anything else ends the run as failed.
ITEM_ERRORS: tuple[type[Exception], ...] = (
    InvalidData,
    ValidationError,
    ValueError,  # includes UnicodeError
    OverflowError,  # dates near year 1 or 9999 in a zone
    zoneinfo.ZoneInfoNotFoundError,
    DataError,  # a value the database refuses (too long, out of range)
)

# The link whose run is under way in this thread. The agenda's on-commit push
# (``scheduler.push_for_owner``) skips it: the run records its own writes in its mappings, so
# pushing them back to the same link would only queue a run that finds nothing to do.
RUNNING_LINK: ContextVar[int | None] = ContextVar("calsync_running_link", default=None)


class LeaseLost(Exception):
    """Another run took this link over; this run stops without writing more."""


class RunContinues(Exception):
    """The run used its time (``CALSYNC_RUN_CHUNK_SECONDS``) with writes left: what it applied
    is committed, and a new run continues from there."""

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__("continues in the next run")
        self.counts = counts


@dataclass
class Outcome:
    status: str
    # The ``SyncRun`` row the run left (none for a quiet run or a skipped one).
    record_id: int | None = None
    counts: dict[str, int] | None = None
    detail: str = ""
    # ``detail`` in translatable form, when the error had one (the reconnect message shows it).
    detail_text: Text | None = None
    # Seconds the provider asked us to wait (``RateLimited.retry_after``); the scheduler's
    # back-off honours it.
    retry_after: float | None = None
    # ``<link>.<lease token>``: what the run's log lines carry (calsync/logcontext.py); empty
    # when no run took place.
    run_id: str = ""
    # The link's tenant, for the caller's log lines (None when no run took place).
    tenant_id: int | None = None
    # The link's provider, for the caller's metrics (empty when no run took place).
    provider: str = ""


@dataclass
class _Leased:
    """What taking the lease returns: the link (its user loaded) with its new token, and whether
    its owner has a committed meeting change past the link's watermark (None: not asked, the
    run finds out itself)."""

    link: CalendarLink
    owner_changed: bool | None


def _columns(model: type[Any], alias: str) -> list[str]:
    return [f'{alias}."{f.column}"' for f in model._meta.concrete_fields]


# The quiet poll's first statement, folded (issue 17): the task's "is this link still syncing?",
# the lease's conditional UPDATE, the read of the link with its user, and "has this owner changed
# anything since the watermark?" as a probe of the ``meeting_owner_seq`` index (tombstones
# included, as ``meetings_changed_since`` reads them). The probe takes no lock and sees only
# committed rows: a write still open is found by the next run (and its commit queues one).
# UPDATE ... FROM does not lock the user row.
_ACQUIRE_SQL = """
UPDATE calsync_calendarlink AS l
SET lease_token = l.lease_token + 1, lease_until = %(until)s, progress_done = 0, progress_total = 0
FROM accounts_user AS u
WHERE l.id = %(link)s AND u.id = l.user_id AND l.state = %(active)s AND NOT l.billing_paused
  AND (l.lease_until IS NULL OR l.lease_until < %(now)s)
RETURNING {link_columns}, {user_columns},
  EXISTS (
    SELECT 1 FROM agenda_meeting AS m WHERE m.owner_id = l.user_id AND m.change_seq > l.pushed_seq
  )
"""


def _from_row(model: type[Any], fields: Any, values: Any) -> Any:
    """A model instance from raw column values, through the converters Django's own queries
    apply (a JSON column arrives as text from psycopg2, for one)."""
    converted = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + field.get_db_converters(
            connection
        ):
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _acquire(link_id: int, now: datetime) -> _Leased | None:
    """Take the lease (concurrent takers serialise on the row and re-check the condition, so
    only one wins) and read the link with its new token. Progress left by a run that was killed
    is not this run's, so it is reset. PostgreSQL: one statement (``_ACQUIRE_SQL``); other
    databases (the SQLite demo): an UPDATE and a SELECT."""
    if connection.vendor == "postgresql":
        link_fields = CalendarLink._meta.concrete_fields
        user_fields = User._meta.concrete_fields
        sql = _ACQUIRE_SQL.format(
            link_columns=", ".join(_columns(CalendarLink, "l")),
            user_columns=", ".join(_columns(User, "u")),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                {"link": link_id, "until": now + _lease(), "now": now, "active": LinkState.ACTIVE},
            )
            row = cursor.fetchone()
        if row is None:
            return None
        n = len(link_fields)
        link = _from_row(CalendarLink, link_fields, row[:n])
        link.user = _from_row(User, user_fields, row[n : n + len(user_fields)])
        return _Leased(link, bool(row[-1]))
    taken = (
        CalendarLink.objects.filter(pk=link_id, state=LinkState.ACTIVE, billing_paused=False)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=F("lease_token") + 1,
            lease_until=now + _lease(),
            progress_done=0,
            progress_total=0,
        )
    )
    if not taken:
        return None
    return _Leased(CalendarLink.objects.select_related("user").get(pk=link_id), None)


def _check_lease(link_id: int, token: int) -> None:
    """Call inside a transaction: locks the link row and checks the fencing token."""
    if not CalendarLink.objects.select_for_update().filter(pk=link_id, lease_token=token).exists():
        raise LeaseLost(f"link {link_id}: lease {token} was taken over")


# Every way a run ends clears its progress along with the lease, so a finished or failed run
# never shows as half done.
_END_OF_RUN = {"lease_until": None, "progress_done": 0, "progress_total": 0}


def _release(link_id: int, token: int) -> None:
    CalendarLink.objects.filter(pk=link_id, lease_token=token).update(**_END_OF_RUN)


def run_link(link_id: int, *, now: datetime | None = None) -> Outcome:
    """Sync one link once. Safe to call twice at once: the second finds the lease taken.

    A run that changed nothing leaves no ``SyncRun`` row (it only stamps ``last_success_at``):
    at a 3-minute cadence quiet runs would otherwise be most of the table. Every log line of the
    run carries its tenant, link and run ids (calsync/logcontext.py)."""
    now = now or timezone.now()
    began = time.monotonic()
    leased = _acquire(link_id, now)
    if leased is None:
        metrics.RUNS.labels(provider="unknown", outcome="skipped").inc()
        # The rare path pays the second query: was the link busy, or is it not syncing at all?
        if CalendarLink.objects.filter(
            pk=link_id, state=LinkState.ACTIVE, billing_paused=False
        ).exists():
            log.debug("run skipped: another run holds the lease", extra={"link_id": link_id})
            return Outcome("skipped", detail="busy")
        log.debug("link gone, paused or not active; not running", extra={"link_id": link_id})
        return Outcome("gone", detail="paused or gone")
    link = leased.link
    previous_success = link.last_success_at
    run_id = f"{link.pk}.{link.lease_token}"
    running = RUNNING_LINK.set(link.pk)
    try:
        with bound(tenant_id=link.tenant_id, link_id=link.pk, run_id=run_id):
            outcome = _run_leased(link, now, leased.owner_changed)
    finally:
        RUNNING_LINK.reset(running)
    outcome.run_id = run_id
    outcome.tenant_id = link.tenant_id
    outcome.provider = link.provider
    metrics.observe_run(
        link.provider, outcome.status, time.monotonic() - began, previous_success, timezone.now()
    )
    return outcome


def _run_leased(link: CalendarLink, now: datetime, owner_changed: bool | None) -> Outcome:
    token = link.lease_token
    try:
        counts, conflicts, stopped = _run(link, token, now, owner_changed)
    except RunContinues as exc:
        log.info("run continues in a new run: %s so far", exc.counts, extra={"counts": exc.counts})
        _release(link.pk, token)
        run = _record(link, now, RunStatus.OK, counts={**exc.counts, "continues": 1})
        return Outcome("continues", run.pk, exc.counts, "continues in the next run")
    except OverQuota as exc:
        # Our quota governor holds the link's requests back: nothing failed, so no failure
        # count, no back-off and no message; the scheduler runs it again when the budget is
        # back, and a first sync resumes from its committed mappings.
        log.info("over quota, rescheduled in %.1f s: %s", exc.retry_after or 0, exc)
        _release(link.pk, token)
        return Outcome("deferred", None, None, str(exc), retry_after=exc.retry_after)
    except LeaseLost as exc:
        log.warning("run overtaken by another run: %s", exc)
        return Outcome(
            "lease-lost", _record(link, now, RunStatus.FAILED, error=str(exc)).pk, detail=str(exc)
        )
    except AuthRevoked as exc:
        log.warning("grant revoked at the provider, link needs a reconnect: %s", exc)
        CalendarLink.objects.filter(pk=link.pk, lease_token=token).update(
            state=LinkState.NEEDS_RECONNECT, last_error=str(exc), **_END_OF_RUN
        )
        run = _record(link, now, RunStatus.FAILED, error=str(exc))
        return Outcome("needs-reconnect", run.pk, detail=str(exc), detail_text=exc.text)
    except ConnectorError as exc:
        log.warning("run failed: %s: %s", type(exc).__name__, exc)
        return _failed(
            link, token, now, str(exc), exc.retry_after if isinstance(exc, RateLimited) else None
        )
    except Exception as exc:
        # A failure no handler knows (a bug, a library's surprise): the run ends as failed like
        # any other, so the lease is released, the link backs off and the user is told, instead
        # of the page saying "Synchronising..." until the lease expires (issue 12).
        log.exception("run failed with an unexpected error")
        note = Text.of(
            gettext_noop(
                "Synchronisation stopped because of an unexpected error (%(error)s). CalSync "
                "tries again later, waiting longer each time, and the operators can see the "
                "details in the logs."
            ),
            error=type(exc).__name__,
        )
        _notes(link, [p.Note("", "run_error", note, f"{type(exc).__name__}: {exc}")])
        return _failed(link, token, now, _english(note), None)
    if stopped:
        log.warning("run stopped at the mass-delete guard: %s", stopped)
        _release(link.pk, token)
        run = _record(link, now, RunStatus.STOPPED, error=stopped)
        return Outcome(RunStatus.STOPPED, run.pk, counts, stopped)
    record_id = None
    if counts or conflicts:
        record_id = _record(link, now, RunStatus.OK, counts=counts, conflicts=conflicts).pk
    # Quiet polls are most runs (one per link every few minutes): their line is for debugging.
    log.log(
        logging.INFO if counts or conflicts else logging.DEBUG,
        "run finished: %s",
        counts or "nothing changed",
        extra={"counts": counts},
    )
    return Outcome(RunStatus.OK, record_id, counts)


def _failed(
    link: CalendarLink, token: int, now: datetime, error: str, retry_after: float | None
) -> Outcome:
    """End a run as failed: count the failure (the scheduler backs off by it), keep the error for
    the page, release the lease."""
    CalendarLink.objects.filter(pk=link.pk, lease_token=token).update(
        failure_count=F("failure_count") + 1, last_error=error, **_END_OF_RUN
    )
    record = _record(link, now, RunStatus.FAILED, error=error)
    return Outcome("failed", record.pk, detail=error, retry_after=retry_after)


def _record(
    link: CalendarLink,
    started: datetime,
    status: str,
    *,
    counts: dict[str, int] | None = None,
    conflicts: list[Any] | None = None,
    error: str = "",
) -> SyncRun:
    return SyncRun.objects.create(
        link=link,
        lease_token=link.lease_token,
        started_at=started,
        finished_at=timezone.now(),
        status=status,
        counts=counts or {},
        conflicts=conflicts or [],
        error=error,
    )


def _remote_view(
    item: RemoteItem, ignore: frozenset[str], first_sync: bool, now: datetime, names: ResourceNames
) -> p.Remote:
    event = item.event
    if item.problem:
        text = Text.of(
            gettext_noop(
                "An event in your external calendar could not be read, so it was skipped: "
                "%(reason)s Open it in your calendar app and save it again, or remove it."
            ),
            reason=item.problem_text or item.problem,
        )
        return p.Remote(item.external_id, item.etag, None, unreadable=text)
    if event is None:
        return p.Remote(item.external_id, item.etag, None)
    try:
        snapshot = snapshot_of_event(event, ignore=ignore, resource_names=names)
        eligible = not first_sync or _last_end(event.end, event.rule, event.start.tzinfo) > now
    except ITEM_ERRORS as exc:
        text = Text.of(
            gettext_noop(
                "The event %(name)s in your external calendar could not be read, so it was "
                "skipped: %(reason)s Open it in your calendar app and save it again, or remove it."
            ),
            name=_named(event.title, event.start),
            reason=_reason(exc),
        )
        return p.Remote(item.external_id, item.etag, None, unreadable=text)
    # Each message names its own flag (recurrence.Message); flags and messages need not come
    # in the same order, so they are never paired by position.
    # A Message stays one (a str keeping its ``Text``): the stored message is rendered in the
    # reader's language.
    problems = tuple(
        (text.flag.value if isinstance(text, Message) else "recurrence", text)
        for text in event.messages
    )
    return p.Remote(
        external_id=item.external_id,
        etag=item.etag,
        snapshot=snapshot,
        updated_at=event.updated,
        meeting_id=event.meeting_id,
        meeting_version=event.meeting_version,
        organizer=event.is_organizer,
        # PRODUCT 8: on a first sync only future events come in (a series with future
        # occurrences counts as future).
        eligible=eligible,
        problems=problems,
        # Daily and unsupported series are not synced into the internal calendar (PRODUCT 21).
        importable=not (event.flags & UNIMPORTABLE),
    )


def _last_end(end: datetime, rule: Any, zone: Any) -> datetime:
    """When an event or series is over: its end, or the end of its rule's last day."""
    if rule is None:
        return end
    return max(end, datetime.combine(rule.until, datetime.max.time(), tzinfo=zone))


def _local_view(meeting: Meeting, first_sync: bool, now: datetime, names: ResourceNames) -> p.Local:
    """The planner's view of a meeting. Raises one of ``ITEM_ERRORS`` for a meeting whose data
    cannot be put into a snapshot; the caller skips that meeting with a message."""
    if meeting.deleted_at is not None:
        return p.Local(meeting.pk, None, meeting.updated_at, meeting.change_seq)
    snapshot = snapshot_of_meeting(
        meeting,
        list(meeting.resources.all()),
        [a.user for a in meeting.attendance.all()],
        resource_names=names,
    )
    return p.Local(
        meeting.pk,
        snapshot,
        meeting.updated_at,
        meeting.change_seq,
        client_appointment=meeting.client_id is not None,
        # PRODUCT 8: past meetings are not sent on a first sync.
        eligible=not first_sync or _last_end(meeting.end, meeting.rule, meeting.zone) > now,
        kind=kind_of(meeting),
    )


def _local_views(
    meetings: Any, first_sync: bool, now: datetime, names: ResourceNames, notes: list[p.Note]
) -> list[p.Local]:
    """The planner's views of ``meetings``; a meeting that cannot be viewed is left out with a
    note that names it (one item never stops a link)."""
    views = []
    for meeting in meetings:
        try:
            views.append(_local_view(meeting, first_sync, now, names))
        except ITEM_ERRORS as exc:
            log.warning("meeting %s skipped: %s", meeting.pk, exc)
            text = not_synchronised(meeting, exc)
            # Fingerprinted by the meeting's version: reported once until it changes.
            notes.append(p.Note(str(meeting.pk), "invalid", text, f"{meeting.change_seq}:{exc}"))
    return views


def not_synchronised(meeting: Meeting, exc: Exception) -> Text:
    """The message about a meeting that cannot be put into a snapshot: which, and why."""
    return Text.of(
        gettext_noop(
            "The meeting %(name)s could not be synchronised: %(reason)s Edit the meeting to "
            "correct it; it is synchronised once it can be."
        ),
        name=_named(meeting.title, meeting.start),
        reason=_reason(exc),
    )


def _named(title: str, start: datetime | date | None) -> Text:
    """An item as the user knows it: its title and day."""
    shown = title.strip()[:80]
    name = (
        Text.of(gettext_noop("“%(title)s”"), title=shown)
        if shown
        else Text.of(gettext_noop("“(no title)”"))
    )
    try:
        day = start.date() if isinstance(start, datetime) else start
    except (ValueError, OverflowError):
        day = None
    if not day:
        return name
    return Text.of(gettext_noop("%(name)s of %(day)s"), name=name, day=day.isoformat())


def _english(text: Text) -> str:
    return text.render(lambda s: s)


def _reason(exc: Exception) -> str | Text:
    """What went wrong, in a sentence for the user: translatable where the error says it in
    a ``Text`` (``text``: recurrence's NotExpressibleError, the connectors' errors)."""
    words = getattr(exc, "text", None)
    if isinstance(words, Text):
        english = _english(words).strip()
        # A sentence's full stop, outside the translated words when they lack one.
        return words if english.endswith((".", "!", "?")) else Text.of("%(reason)s.", reason=words)
    if isinstance(exc, ValidationError):
        text = " ".join(exc.messages)
    elif isinstance(exc, InvalidData):
        text = str(exc)
    elif isinstance(exc, OverflowError | zoneinfo.ZoneInfoNotFoundError):
        return Text.of(gettext_noop("its dates or time zone are outside what calendars can hold."))
    else:
        text = str(exc) or type(exc).__name__
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _run(
    link: CalendarLink, token: int, now: datetime, owner_changed: bool | None
) -> tuple[dict[str, int], list[Any], str]:
    connector = registry.get(link.provider).connector(link, default_zone=link.user.time_zone)
    try:
        return _sync(link, token, now, connector, owner_changed)
    finally:
        # Refreshed or rotated tokens are kept whatever happened in the run (a rotated
        # Microsoft refresh token that is not stored kills the link when the old one expires).
        secrets = connector.updated_secrets()
        if secrets is not None:
            CalendarLink.objects.filter(pk=link.pk, lease_token=token).update(
                credentials=credentials.encrypt(secrets)
            )


def _owner_changed_since(owner_id: int, seq: int) -> bool:
    """The lock-free probe of ``_ACQUIRE_SQL`` on its own (databases without the folded lease)."""
    return Meeting.all_objects.filter(owner_id=owner_id, change_seq__gt=seq).exists()


def _sync(
    link: CalendarLink,
    token: int,
    now: datetime,
    connector: Connector,
    owner_changed: bool | None,
) -> tuple[dict[str, int], list[Any], str]:
    started = time.monotonic()
    owner: User = link.user
    first_sync = not link.cursor
    # The daily reconcile: whatever push and the cursor say, the whole calendar is read and
    # diffed against the mappings at least every CALSYNC_FULL_RECONCILE_HOURS (a change that
    # neither a notification nor the incremental listing reported is found here).
    full = first_sync or (
        link.last_full_sync_at is None
        or link.last_full_sync_at <= now - timedelta(hours=settings.CALSYNC_FULL_RECONCILE_HOURS)
    )
    try:
        changes = connector.full_listing() if full else connector.changes(link.cursor)
    except CursorExpired:
        changes = connector.full_listing()
        full = True
    # Local changes up to the committed high-water mark (agenda/changeseq.py). The owner's probe
    # first (taken with the lease): when this owner has no committed change past the watermark,
    # a quiet run needs neither the owner's lock nor the query, whatever other tenants write.
    high_water = link.pushed_seq
    changed: Any = []
    # A changed privacy level (issue 16 §1): every meeting this link holds a copy of is looked
    # at again, so its copy is rewritten to the new redaction in this one run, both ways
    # (tightening takes details out, loosening puts them in).
    relevel = link.privacy_applied < link.privacy_version
    if owner_changed is None and not first_sync:
        owner_changed = _owner_changed_since(link.user_id, link.pushed_seq)
    if first_sync or relevel or owner_changed:
        high_water = committed_high_water(link.user_id)
        if first_sync:
            # Everything live is a candidate; eligibility (future only) is decided per meeting.
            changed = Meeting.objects.filter(owner=owner, change_seq__lte=high_water)
        else:
            changed = meetings_changed_since(owner, link.pushed_seq).filter(
                change_seq__lte=high_water
            )
            if relevel:
                copied = EventMapping.objects.filter(link=link).values("meeting_id")
                changed = changed | Meeting.objects.filter(
                    owner=owner, change_seq__lte=high_water, pk__in=copied
                )
        changed = changed.select_related("client").prefetch_related("resources", "attendance__user")
    notes: list[p.Note] = []
    names: ResourceNames = {}
    if first_sync or changes.items or changed:
        names = resource_names(owner)
    locals_ = _local_views(changed, first_sync, now, names, notes)
    log.debug(
        "read %d provider changes and %d local changes",
        len(changes.items),
        len(locals_),
        extra={"first_sync": first_sync, "full_listing": full},
    )
    mappings: dict[str, Any] = {}
    privacy = FULL_PRIVACY
    if locals_ or changes.items or full:
        mappings = {
            m.external_id: m
            for m in EventMapping.objects.filter(link=link).annotate(
                client=F("meeting__client_id"), meeting_kind=F("meeting__kind")
            )
        }
        # Only a run with something to plan asks for the levels: a quiet poll stays as cheap.
        privacy = link_privacy(link)
    ignore = frozenset({owner.email.lower(), link.account.lower()})
    remotes = [_remote_view(i, ignore, first_sync, now, names) for i in changes.items]
    ours = _unmapped_candidates(link, remotes, set(mappings), now, names, notes)
    prior = _prior_pairs(link, remotes, now, names, notes) if first_sync else {}
    decided = p.plan(
        link_id=link.pk,
        local=locals_,
        remote=remotes,
        mappings=[_pair(m) for m in mappings.values()],
        full_listing=full,
        listed_window=changes.window if full else None,
        mass_delete_share=settings.CALSYNC_MASS_DELETE_SHARE,
        mass_delete_minimum=settings.CALSYNC_MASS_DELETE_MINIMUM,
        allow_mass_delete=link.allow_mass_delete,
        unmapped_meetings=ours,
        prior=prior,
        privacy=privacy,
    )
    _notes(link, notes + decided.notes)
    if decided.stopped:
        # Fingerprinted by its text: the same stop is reported (and e-mailed) once.
        _notes(
            link,
            [p.Note("", "mass_delete", decided.stopped_text or decided.stopped, decided.stopped)],
        )
        return {}, [], decided.stopped
    executor = _Executor(
        link,
        token,
        connector,
        owner,
        {i.external_id: i for i in remotes},
        bases={ext: m.snapshot for ext, m in mappings.items()},
        locals_={
            v.meeting_id: v
            for v in [*locals_, *ours.values(), *(pair[1] for pair in prior.values())]
        },
        conflicts=decided.conflicts,
    )
    progress = _Progress(link.pk, token, decided.actions)
    if not executor.apply_all(decided.actions, progress, started=started):
        # Out of this run's time (CALSYNC_RUN_CHUNK_SECONDS): what is applied is committed with
        # its mappings; the cursor and watermark stay, so the next run (queued at once) lists
        # again and does the rest, and the task's soft time limit never cuts a run off.
        raise RunContinues(executor.counts)
    # Cursor and watermark last (QUALITY I9), fenced by the lease, which this also releases.
    stored = CalendarLink.objects.filter(pk=link.pk, lease_token=token).update(
        cursor=connector.final_cursor(changes.cursor),
        pushed_seq=max(link.pushed_seq, high_water),
        last_success_at=timezone.now(),
        failure_count=0,
        last_error="",
        allow_mass_delete=False,
        # The level this run wrote every copy at (a change made meanwhile runs again).
        privacy_applied=link.privacy_version,
        **({"last_full_sync_at": now} if full else {}),
        **_END_OF_RUN,
    )
    if not stored:
        raise LeaseLost(f"link {link.pk}: lease {token} was taken over before the cursor")
    conflicts = [c.__dict__ for c in decided.conflicts]
    return executor.counts, conflicts, ""


# Actions that write a meeting on one side or the other: what the page's "n of m meetings"
# counts. Bookkeeping (forgetting a mapping, noting an etag) is instant and not shown.
_MEETING_WRITES = (
    p.CreateThere,
    p.UpdateThere,
    p.DeleteThere,
    p.CreateHere,
    p.UpdateHere,
    p.DeleteHere,
    p.Adopt,
)


class _Progress:
    """Tells the page how far a run is ("120 of 1,000 meetings", PRODUCT 23): the counts go on
    the link row, fenced by the lease like every other write of the run, at most about once a
    second so a long first sync costs a handful of extra UPDATEs, and a quiet run none."""

    INTERVAL = 1.0

    def __init__(self, link_id: int, token: int, actions: list[p.Action]) -> None:
        self.link_id = link_id
        self.token = token
        self.total = sum(isinstance(a, _MEETING_WRITES) for a in actions)
        self.done = 0
        self._written_at = 0.0
        if self.total:
            log.info("applying %d meeting writes", self.total)
            self._write()

    def advance(self, action: p.Action) -> None:
        if not isinstance(action, _MEETING_WRITES):
            return
        self.done += 1
        # The last one is not written: the end of the run resets the counts anyway.
        if self.done < self.total and time.monotonic() - self._written_at >= self.INTERVAL:
            self._write()

    def _write(self) -> None:
        self._written_at = time.monotonic()
        CalendarLink.objects.filter(pk=self.link_id, lease_token=self.token).update(
            progress_done=self.done, progress_total=self.total
        )


def _unmapped_candidates(
    link: CalendarLink,
    remotes: list[p.Remote],
    mapped_ids: set[str],
    now: datetime,
    names: ResourceNames,
    notes: list[p.Note],
) -> dict[int, p.Local]:
    """Our meetings that incoming copies name (by the id we wrote on them) and that are not
    mapped on this link: a mapping lost in a crash, or a calendar linked again after a revoke
    (the revoked link's mappings stay for history, so only this link's count)."""
    wanted = {r.meeting_id for r in remotes if r.meeting_id and r.external_id not in mapped_ids}
    if not wanted:
        return {}
    mapped = set(
        EventMapping.objects.filter(link=link, meeting_id__in=wanted).values_list(
            "meeting_id", flat=True
        )
    )
    # Tombstones too: a copy of a meeting deleted here is deleted there, not imported back.
    meetings = Meeting.all_objects.filter(owner=link.user, pk__in=wanted - mapped).prefetch_related(
        "resources", "attendance__user"
    )
    return {v.meeting_id: v for v in _local_views(meetings, False, now, names, notes)}


def _prior_pairs(
    link: CalendarLink,
    remotes: list[p.Remote],
    now: datetime,
    names: ResourceNames,
    notes: list[p.Note],
) -> dict[str, tuple[p.Mapping, p.Local]]:
    """The pairs an earlier, revoked link of this user kept with this same calendar, for the
    items the calendar still holds: a staff member who revokes and sets up again gets their
    copies (and the events imported before) back, not a second copy of everything (issue 12).
    Each comes with its meeting as it is now (a tombstone if it was deleted meanwhile), so the
    planner merges against the content both sides had when the earlier link last synced."""
    listed = {r.external_id for r in remotes if r.snapshot is not None}
    if not listed:
        return {}
    rows = (
        EventMapping.objects.filter(
            link__user=link.user,
            link__provider=link.provider,
            link__account=link.account,
            link__calendar_id=link.calendar_id,
            link__state=LinkState.REVOKED,
        )
        .exclude(link=link)
        .annotate(client=F("meeting__client_id"), meeting_kind=F("meeting__kind"))
        .order_by("link__revoked_at", "pk")  # the latest earlier link wins
    )
    # Matched here rather than with an IN over every listed id (a first sync may list thousands).
    latest = {m.external_id: m for m in rows if m.external_id in listed}
    if not latest:
        return {}
    meetings = {
        m.pk: m
        for m in Meeting.all_objects.filter(
            owner=link.user, pk__in={m.meeting_id for m in latest.values()}
        ).prefetch_related("resources", "attendance__user")
    }
    views = {v.meeting_id: v for v in _local_views(meetings.values(), False, now, names, notes)}
    return {
        external_id: (_pair(m), views[m.meeting_id])
        for external_id, m in latest.items()
        if m.meeting_id in views
    }


def _pair(m: EventMapping) -> p.Mapping:
    """The planner's view of a mapping row annotated with its meeting's client and kind. The
    bookkeeping keys of its snapshot: ``_organizer`` (False: an event we only attend) and
    ``_imported`` (the pair began as an event made outside)."""
    kind = "personal" if getattr(m, "meeting_kind", "") == "personal" else "other"
    return p.Mapping(
        m.meeting_id,
        m.external_id,
        m.etag,
        m.snapshot,
        organizer=m.snapshot.get("_organizer", True),
        client_appointment=getattr(m, "client", None) is not None,
        kind=kind,
        imported=bool(m.snapshot.get("_imported", False)),
    )


class _Executor:
    def __init__(
        self,
        link: CalendarLink,
        token: int,
        connector: Connector,
        owner: User,
        remotes: dict[str, p.Remote],
        *,
        bases: dict[str, dict[str, Any]] | None = None,
        locals_: dict[int, p.Local] | None = None,
        conflicts: list[p.Conflict] | None = None,
    ) -> None:
        self.link = link
        self.token = token
        self.connector = connector
        self.owner = owner
        self.remotes = remotes
        self._directory: Directory | None = None
        self.counts: dict[str, int] = {}
        # For the sync history (calsync/history.py), all already in memory: the mappings' bases
        # by external id (adopted pairs add theirs), the meetings' snapshots as planned, and the
        # run's conflicts by meeting, which go on the first merged change of their meeting.
        self.bases = dict(bases or {})
        self.locals = locals_ or {}
        self.conflicts: dict[int, list[p.Conflict]] = {}
        for conflict in conflicts or []:
            self.conflicts.setdefault(conflict.meeting_id, []).append(conflict)

    @property
    def directory(self) -> Directory:
        # Built on first use: a run that writes nothing here costs no query for it.
        if self._directory is None:
            self._directory = Directory.for_owner(self.owner)
        return self._directory

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def apply(self, action: p.Action) -> None:
        try:
            method = getattr(self, "_" + type(action).__name__)
            method(action)
        except (EtagMismatch, NotFound) as exc:
            if isinstance(action, p.CreateThere) and isinstance(exc, NotFound):
                # A create has no listed item to come back with: the meeting would never be
                # tried again until it changes, so this is the meeting's problem, told now.
                self._skipped(action, exc)
                return
            # The item changed or vanished since we listed it: the next run lists its new state
            # and plans from that.
            log.info("%s: %s; retried next run", type(action).__name__, exc)
            self._count("retry_next_run")
        except ITEM_ERRORS as exc:
            self._skipped(action, exc)

    def apply_all(self, actions: list[p.Action], progress: _Progress, *, started: float) -> bool:
        """Apply ``actions`` in order; consecutive creates on the provider go in batches of the
        connector's ``batch_size`` (``_create_batch``). Returns False when the run's time
        (``CALSYNC_RUN_CHUNK_SECONDS`` from ``started``) ran out with actions left: everything
        applied so far is committed, and the caller ends the run to continue in a new one."""
        # A run with many writes (a first sync) is bulk work for the quota governor: it leaves
        # a reserve of every bucket to polls, so it cannot starve other practices' polls.
        with quota.bulk() if progress.total > BULK_WRITES else contextlib.nullcontext():
            return self._apply_all(actions, progress, started=started)

    def _apply_all(self, actions: list[p.Action], progress: _Progress, *, started: float) -> bool:
        size = max(1, self.connector.capabilities.batch_size)
        budget = settings.CALSYNC_RUN_CHUNK_SECONDS
        index = 0
        while index < len(actions):
            # Each run applies something before it may stop, so a run always gets further.
            if index and time.monotonic() - started > budget:
                return False
            batch: list[p.CreateThere] = []
            while (
                size > 1
                and index < len(actions)
                and len(batch) < size
                and isinstance(actions[index], p.CreateThere)
            ):
                batch.append(actions[index])  # type: ignore[arg-type]
                index += 1
            if batch:
                self._create_batch(batch)
                for action in batch:
                    progress.advance(action)
                continue
            self.apply(actions[index])
            progress.advance(actions[index])
            index += 1
        return True

    def _create_batch(self, actions: list[p.CreateThere]) -> None:
        """Creates on the provider in one ``create_many`` call, each item's answer handled as
        ``apply`` handles a single create's: what landed gets its mapping, all of them in one
        transaction with one lease check and one ``INSERT ... ON CONFLICT``; an item refused
        is skipped with its message; an item that met an error of the whole run (revoked,
        rate limited, unavailable, over quota) ends the run after the mappings of the others
        are committed, so a retry finds them (their idempotency keys make no second copy)."""
        items: list[NewItem] = []
        sent: list[p.CreateThere] = []
        for action in actions:
            try:
                event = event_from_snapshot(
                    action.snapshot, meeting_id=action.meeting_id, meeting_version=action.version
                )
            except ITEM_ERRORS as exc:
                self._skipped(action, exc)
                continue
            items.append(NewItem(event, action.idempotency_key))
            sent.append(action)
        if not items:
            return
        results = self.connector.create_many(items)
        landed = [(a, r) for a, r in zip(sent, results, strict=True) if isinstance(r, Written)]
        if landed:
            stamp = timezone.now()
            with transaction.atomic():
                _check_lease(self.link.pk, self.token)
                # A meeting's earlier mapping (another external id) goes, as in _CreateThere.
                EventMapping.objects.filter(
                    link=self.link, meeting_id__in=[a.meeting_id for a, _ in landed]
                ).delete()
                EventMapping.objects.bulk_create(
                    [
                        EventMapping(
                            link=self.link,
                            meeting_id=a.meeting_id,
                            external_id=written.external_id,
                            etag=written.etag,
                            snapshot=a.snapshot,
                            updated_at=stamp,
                        )
                        for a, written in landed
                    ],
                    update_conflicts=True,
                    unique_fields=["link", "external_id"],
                    update_fields=["meeting", "etag", "snapshot", "updated_at"],
                )
                # The sync history's row of each create, in the same transaction as its mapping
                # and in one INSERT for the batch.
                history.record_changes(
                    [
                        history.change_row(
                            link=self.link,
                            meeting_id=a.meeting_id,
                            action=a,
                            old=None,
                            new=a.snapshot,
                            conflicts=[],
                        )
                        for a, _ in landed
                    ]
                )
            for _ in landed:
                self._count("created_there")
        stop: Exception | None = None
        for action, result in zip(sent, results, strict=True):
            if isinstance(result, Written):
                continue
            if isinstance(result, (NotFound, *ITEM_ERRORS)):
                self._skipped(action, result)
            elif isinstance(result, EtagMismatch):
                log.info("CreateThere: %s; retried next run", result)
                self._count("retry_next_run")
            else:
                # Revoked, rate limited, unavailable, over quota, or a bug: the run's end,
                # raised as a single create would have raised it.
                stop = stop or result
        if stop is not None:
            raise stop

    def _base(self, external_id: str) -> dict[str, Any] | None:
        base = self.bases.get(external_id)
        return None if base is None else {k: v for k, v in base.items() if not k.startswith("_")}

    def _here_before(self, meeting_id: int, external_id: str) -> dict[str, Any] | None:
        """The meeting's content before this run changed it: as planned when it changed here,
        else the base (what it held when last in step)."""
        local = self.locals.get(meeting_id)
        if local is not None and local.snapshot is not None:
            return local.snapshot
        return self._base(external_id)

    def _there_before(self, external_id: str) -> dict[str, Any] | None:
        """The outside copy's content before this run wrote it: as listed, else the base."""
        remote = self.remotes.get(external_id)
        if remote is not None and remote.snapshot is not None:
            return remote.snapshot
        return self._base(external_id)

    def _history(
        self,
        action: p.Action,
        meeting_id: int,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        *,
        flagged: bool = False,
    ) -> None:
        """The history row of ``action`` (call inside its transaction): at most one INSERT."""
        conflicts = self.conflicts.pop(meeting_id, []) if action.reason.startswith("merged") else []
        history.record_change(
            link=self.link,
            meeting_id=meeting_id,
            action=action,
            old=old,
            new=new,
            conflicts=conflicts,
            flagged=flagged,
        )

    def _skipped(self, action: p.Action, exc: Exception) -> None:
        """This one item is skipped with a message; the rest of the run goes on (QUALITY)."""
        log.info("%s skipped: %s", type(action).__name__, exc)
        text = _describe(action, _reason(exc))
        _notes(self.link, [p.Note(_subject(action), "invalid", text, _english(text))])
        self._count("skipped")

    # -- there (provider writes; each mapping saved as soon as its write landed) --------------

    def _CreateThere(self, a: p.CreateThere) -> None:
        written = self.connector.create(
            event_from_snapshot(a.snapshot, meeting_id=a.meeting_id, meeting_version=a.version),
            idempotency_key=a.idempotency_key,
        )
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            EventMapping.objects.filter(link=self.link, meeting_id=a.meeting_id).delete()
            EventMapping.objects.update_or_create(
                link=self.link,
                external_id=written.external_id,
                defaults={
                    "meeting_id": a.meeting_id,
                    "etag": written.etag,
                    "snapshot": a.snapshot,
                    "updated_at": timezone.now(),
                },
            )
            self._history(a, a.meeting_id, None, a.snapshot)
        self._count("created_there")

    def _UpdateThere(self, a: p.UpdateThere) -> None:
        written = self.connector.update(
            a.external_id,
            event_from_snapshot(a.snapshot, meeting_id=a.meeting_id, meeting_version=a.version),
            etag=a.etag,
            fields=a.fields,
        )
        with transaction.atomic():
            before = self._there_before(a.external_id)
            self._save_mapping(a.external_id, etag=written.etag, snapshot=a.snapshot)
            self._history(a, a.meeting_id, before, a.snapshot)
        self._count("updated_there")

    def _DeleteThere(self, a: p.DeleteThere) -> None:
        self.connector.delete(a.external_id, etag=a.etag or None)
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            EventMapping.objects.filter(link=self.link, external_id=a.external_id).delete()
            self._history(a, a.meeting_id, self._base(a.external_id), None)
        self._count("deleted_there")

    # -- here (agenda writes through the services, each with its mapping in one transaction) ---

    def _CreateHere(self, a: p.CreateHere) -> None:
        remote = a.remote
        assert remote.snapshot is not None
        data = meeting_data_from_snapshot(remote.snapshot, self.directory)
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            meeting = meeting_create(owner=self.owner, data=data)
            EventMapping.objects.create(
                link=self.link,
                meeting=meeting,
                external_id=remote.external_id,
                etag=remote.etag,
                snapshot={**remote.snapshot, "_organizer": remote.organizer, "_imported": True},
            )
            self._history(a, meeting.pk, None, remote.snapshot, flagged=bool(remote.problems))
        self._count("created_here")

    def _UpdateHere(self, a: p.UpdateHere) -> None:
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            meeting = Meeting.objects.select_related("client").get(pk=a.meeting_id)
            meeting_update(meeting=meeting, data=_taken(meeting, a, self.directory))
            self._save_mapping(a.external_id, etag=a.etag, snapshot=a.base, checked=True)
            remote = self.remotes.get(a.external_id)
            # Only the fields taken count: at a privacy level the update's snapshot holds the
            # redaction ("Busy") in the fields not read back, which the meeting kept.
            before = self._here_before(a.meeting_id, a.external_id)
            self._history(
                a,
                a.meeting_id,
                _only(before, a.fields),
                _only(a.snapshot, a.fields),
                flagged=bool(remote and remote.problems),
            )
        self._count("updated_here")

    def _DeleteHere(self, a: p.DeleteHere) -> None:
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            meeting = Meeting.objects.filter(pk=a.meeting_id).first()
            if meeting is not None:
                meeting_delete(meeting=meeting)
                self._history(a, a.meeting_id, self._here_before(a.meeting_id, a.external_id), None)
            EventMapping.objects.filter(link=self.link, external_id=a.external_id).delete()
        self._count("deleted_here")

    # -- bookkeeping ---------------------------------------------------------------------------

    def _Adopt(self, a: p.Adopt) -> None:
        # The pair's base, for the history of the merge planned after it.
        self.bases.setdefault(a.external_id, a.snapshot)
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            try:
                with transaction.atomic():
                    EventMapping.objects.create(
                        link=self.link,
                        meeting_id=a.meeting_id,
                        external_id=a.external_id,
                        etag=a.etag,
                        snapshot=a.snapshot,
                    )
            except IntegrityError:
                return  # adopted already (a duplicated run)
        self._count("recovered")

    def _Forget(self, a: p.Forget) -> None:
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            EventMapping.objects.filter(link=self.link, external_id=a.external_id).delete()

    def _RecordEtag(self, a: p.RecordEtag) -> None:
        with transaction.atomic():
            _check_lease(self.link.pk, self.token)
            EventMapping.objects.filter(link=self.link, external_id=a.external_id).update(
                etag=a.etag
            )

    def _save_mapping(
        self, external_id: str, *, etag: str, snapshot: dict[str, Any], checked: bool = False
    ) -> None:
        with transaction.atomic():
            if not checked:
                _check_lease(self.link.pk, self.token)
            mapping = EventMapping.objects.get(link=self.link, external_id=external_id)
            kept = {k: v for k, v in mapping.snapshot.items() if k in ("_organizer", "_imported")}
            mapping.etag = etag
            mapping.snapshot = {**snapshot, "_organizer": True, **kept}
            mapping.updated_at = timezone.now()
            mapping.save(update_fields=["etag", "snapshot", "updated_at"])


def _taken(meeting: Meeting, a: p.UpdateHere, directory: Directory) -> Any:
    """The meeting's data after an ``UpdateHere``: the action's fields from its snapshot, every
    other one as the meeting holds it (what a privacy level does not send comes back redacted or
    not at all, and must not blank the meeting here)."""
    snapshot = a.snapshot
    if a.fields != frozenset(SYNCED_FIELDS):
        own = snapshot_of_meeting(
            meeting,
            list(meeting.resources.all()),
            [x.user for x in meeting.attendance.all()],
            resource_names=directory.resource_names,
        )
        snapshot = {**own, **{name: a.snapshot[name] for name in a.fields}}
    return meeting_data_from_snapshot(snapshot, directory, base=meeting)


def _only(snapshot: dict[str, Any] | None, fields: frozenset[str]) -> dict[str, Any] | None:
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k in fields}


def _describe(action: p.Action, reason: str | Text) -> Text:
    """A message about an action that failed on its item: what, which, and why."""
    snapshot = getattr(action, "snapshot", None)
    if isinstance(action, p.CreateHere):
        snapshot = action.remote.snapshot
    here = isinstance(action, p.CreateHere | p.UpdateHere | p.DeleteHere)
    if not isinstance(snapshot, dict):
        template = (
            gettext_noop(
                "The event could not be taken over from your external calendar: %(reason)s"
            )
            if here
            else gettext_noop(
                "The meeting could not be written to your external calendar: %(reason)s"
            )
        )
        return Text.of(template, reason=reason)
    template = (
        gettext_noop(
            "The event %(name)s could not be taken over from your external calendar: %(reason)s"
        )
        if here
        else gettext_noop(
            "The meeting %(name)s could not be written to your external calendar: %(reason)s"
        )
    )
    name = _named(str(snapshot.get("title", "")), _snapshot_day(snapshot))
    return Text.of(template, name=name, reason=reason)


def _snapshot_day(snapshot: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(snapshot.get("start", ""))[:10])
    except ValueError:
        return None


def _subject(action: p.Action) -> str:
    """The item an action is about: our meeting id, or the provider's id for a new import."""
    if isinstance(action, p.CreateHere):
        return action.remote.external_id
    return str(getattr(action, "meeting_id", ""))


def _notes(link: CalendarLink, notes: list[p.Note]) -> None:
    """Store each note once (until its item's content changes) and e-mail new ones (PRODUCT 22)."""
    fresh = []
    for note in notes:
        # The English words for the admin and the logs, and the source the pages and e-mails
        # render in their reader's language (calsync/texts.py).
        source = note.text.text if isinstance(note.text, Message) else note.text
        message, created = SyncMessage.objects.get_or_create(
            link=link,
            subject=note.subject[:1100],
            code=note.code,
            # Any text identifies the content; the column holds its digest.
            fingerprint=hashlib.sha256(note.fingerprint.encode()).hexdigest(),
            defaults={
                "text": _english(source) if isinstance(source, Text) else str(source),
                "source": to_source(source) if isinstance(source, Text) else None,
                "title": note.title[:255],
                "start": note.start[:40],
            },
        )
        if created:
            fresh.append(message)
    if fresh:
        transaction.on_commit(lambda: _mail(link, fresh))


def _mail(link: CalendarLink, messages: list[SyncMessage]) -> None:
    # The same words as the cards on the page (meeting, date, what happened), with a link to each.
    from calsync.message_cards import email_body

    # In the recipient's language, whoever's request or worker sends it.
    with translation.override(link.user.preferred_language()):
        send_mail(
            subject=gettext("CalendarSync: something needs your attention"),
            message=email_body(link, messages),
            from_email=None,
            recipient_list=[link.user.email],
        )
    SyncMessage.objects.filter(pk__in=[m.pk for m in messages]).update(emailed_at=timezone.now())
