"""The one-click conversions PRODUCT 21 promises (issue 16 §2).

* A **daily** series that a weekly rule reproduces exactly (``recurrence`` says so by offering a
  ``SuggestionKind.WEEKLY`` suggestion): the outside series is rewritten with that weekly rule,
  and the next run imports it like any new event.
* A **Sunday week start** series: it was imported, but the two calendars show some dates
  differently; the ``SuggestionKind.SPLIT`` suggestion's two weekly meetings reproduce the
  outside dates exactly. The meeting becomes the first of them and a new meeting the second,
  through the agenda's services, so both sync out as edits here.

The suggestion is read fresh from the provider at the click (``Connector.get``), never from the
stored message, so the conversion applies to the series as it is now.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils.translation import gettext as _

from agenda.models import Meeting
from agenda.services import meeting_create, meeting_data, meeting_update
from calsync import scheduler
from calsync.models import CalendarLink, EventMapping, SyncMessage
from connectors import credentials, registry
from connectors.base import Connector
from connectors.errors import ConnectorError, NotFound
from connectors.events import EventData
from recurrence import Flag, Suggestion, SuggestionKind

# The message codes a conversion exists for (``recurrence.Flag`` values).
CONVERTIBLE = {Flag.DAILY.value, Flag.SUNDAY_WEEK_START.value}
# The words the daily message uses only when the exact weekly rule exists (recurrence/_core.py).
DAILY_OFFER = "convert it in one click"


class ConversionError(Exception):
    """The conversion cannot be made; the text says why, for the page."""


def offers_conversion(message: SyncMessage) -> bool:
    """Whether the message's card shows the one-click button."""
    if message.code == Flag.DAILY.value:
        return DAILY_OFFER in message.text
    return message.code == Flag.SUNDAY_WEEK_START.value


def _external_id(message: SyncMessage) -> str:
    """The outside event a message is about: its subject is the provider's id for an event not
    imported (a daily series), or our meeting id for a mapped one."""
    if EventMapping.objects.filter(link=message.link, external_id=message.subject).exists():
        return message.subject
    if message.subject.isdigit():
        mapping = EventMapping.objects.filter(
            link=message.link, meeting_id=int(message.subject)
        ).first()
        if mapping is not None:
            return mapping.external_id
    return message.subject


def convert(message: SyncMessage) -> str:
    """Apply the message's suggestion; returns what was done, for the page. Raises
    ``ConversionError`` when the series changed so that no exact conversion exists any more, the
    event is gone, or the provider refused."""
    link = message.link
    if message.code not in CONVERTIBLE:
        raise ConversionError(_("This message has no conversion to offer."))
    if not link.syncs:
        raise ConversionError(_("This calendar is not synchronising now; reconnect it first."))
    connector = registry.get(link.provider).connector(link, default_zone=link.user.time_zone)
    try:
        external_id = _external_id(message)
        try:
            item = connector.get(external_id)
        except NotFound as exc:
            raise ConversionError(_("The event is no longer in your external calendar.")) from exc
        event = item.event
        suggestion = next(
            (s for s in (event.suggestions if event else ()) if s.flag.value == message.code),
            None,
        )
        if event is None or suggestion is None:
            raise ConversionError(
                _("The event changed since, and CalSync finds no exact conversion for it now.")
            )
        if suggestion.kind is SuggestionKind.WEEKLY:
            done = _weekly(link, connector, external_id, item.etag, event, suggestion)
        else:
            done = _split(link, external_id, event, suggestion)
    except ConnectorError as exc:
        raise ConversionError(
            _("Your external calendar refused the change: %(reason)s") % {"reason": exc}
        ) from exc
    finally:
        # Refreshed tokens are kept, as after a run (calsync/engine/run.py).
        secrets = connector.updated_secrets()
        if secrets is not None:
            CalendarLink.objects.filter(pk=link.pk).update(credentials=credentials.encrypt(secrets))
    # Answered: the message leaves the page (a new problem of the series makes a new one).
    SyncMessage.objects.filter(pk=message.pk).delete()
    return done


def _weekly(
    link: CalendarLink,
    connector: Connector,
    external_id: str,
    etag: str,
    event: EventData,
    suggestion: Suggestion,
) -> str:
    if not event.is_organizer:
        raise ConversionError(
            _("Someone else organises this series, so only they can change its repetition.")
        )
    target = suggestion.meetings[0]
    # Only the rule is written: the provider keeps everything else the series holds.
    connector.update(
        external_id, replace(event, rule=target.rule), etag=etag, fields=frozenset({"rule"})
    )
    # The next run finds the rewritten series importable and brings it in.
    transaction.on_commit(lambda: scheduler.request_sync(link.pk))
    return _(
        "“%(title)s” now repeats weekly in your external calendar, on the same dates; "
        "CalSync is bringing it into your calendar."
    ) % {"title": event.title}


def _start_of(value: datetime | date, zone: str, meeting: Meeting) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=ZoneInfo(zone or meeting.time_zone))


def _split(link: CalendarLink, external_id: str, event: EventData, suggestion: Suggestion) -> str:
    mapping = EventMapping.objects.filter(link=link, external_id=external_id).first()
    meeting = (
        Meeting.objects.select_related("owner", "client").filter(pk=mapping.meeting_id).first()
        if mapping
        else None
    )
    if meeting is None:
        raise ConversionError(_("The meeting is no longer in your calendar."))
    if len(suggestion.meetings) != 2:
        raise ConversionError(_("The event changed since, and needs no split now."))
    length = meeting.end - meeting.start
    first, second = suggestion.meetings
    with transaction.atomic():
        common = meeting_data(meeting)
        parts = []
        for part in (first, second):
            start = _start_of(part.start, event.time_zone, meeting)
            parts.append(replace(common, start=start, end=start + length, rule=part.rule))
        meeting_update(meeting=meeting, data=parts[0])
        meeting_create(owner=meeting.owner, data=parts[1])
    return _("“%(title)s” was split into two weekly meetings; both are being synchronised.") % {
        "title": meeting.title
    }
