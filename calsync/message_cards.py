"""Sync messages as cards a user can act on (issue 18 §3): which meeting (title and date), what
happened, and the buttons (templates/calsync/_message_actions.html). The e-mail a message sends
says the same and links to its card."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agenda.models import Meeting
from calsync.models import CalendarLink, EventMapping, SyncMessage

# The internal end given to series without one (CALSYNC_NO_END_DATE): people read "no end
# date", never the date itself.
NO_END_WORDS = gettext_lazy("no end date")


@dataclass(frozen=True)
class MessageCard:
    message: SyncMessage
    # The meeting's title, or what the message is about when no meeting is known (an event
    # that could not be read, the run as a whole).
    title: str
    # When the meeting takes place, in words ("Tue 1 Dec 2026, 09:00"), or "".
    when: str
    text: str

    @property
    def anchor(self) -> str:
        return f"message-{self.message.pk}"


def readable(text: str) -> str:
    """A message's text with the internal far-future end said in words (in the active
    language: "until 31 December 2078" reads "with no end date")."""
    far = settings.CALSYNC_NO_END_DATE
    written_forms = (
        far.isoformat(),
        date_format(far, "DATE_FORMAT"),
        date_format(far, "SHORT_DATE_FORMAT"),
    )
    for written in written_forms:
        text = text.replace(f"until {written}", _("with no end date")).replace(
            written, str(NO_END_WORDS)
        )
    return text


def _when(meeting: Meeting, zone: ZoneInfo) -> str:
    start: datetime = meeting.start.astimezone(zone)
    if meeting.all_day:
        day: date = start.date()
        return date_format(day, f"D {get_format('SHORT_DATE_FORMAT')}")
    label = date_format(start, f"D {get_format('SHORT_DATETIME_FORMAT')}")
    if meeting.repeat:
        return _("%(when)s, repeating") % {"when": label}
    return label


def _when_stored(start: str, zone: ZoneInfo) -> str:
    """The start a run stored with the message (a snapshot's ISO date or date-time)."""
    try:
        if len(start) == 10:
            return date_format(date.fromisoformat(start), f"D {get_format('SHORT_DATE_FORMAT')}")
        moment = datetime.fromisoformat(start).astimezone(zone)
        return date_format(moment, f"D {get_format('SHORT_DATETIME_FORMAT')}")
    except ValueError:
        return ""


def cards_for(link: CalendarLink, messages: Iterable[SyncMessage]) -> list[MessageCard]:
    """One card per message, each naming its meeting. A subject is our meeting's id, or the
    provider's id of an event (looked up through the link's mappings); two queries in all."""
    messages = list(messages)
    ids = {int(m.subject) for m in messages if m.subject.isdigit()}
    external = {m.subject for m in messages if m.subject and not m.subject.isdigit()}
    by_external = dict(
        EventMapping.objects.filter(link=link, external_id__in=external).values_list(
            "external_id", "meeting_id"
        )
    )
    meetings = {
        m.pk: m
        for m in Meeting.all_objects.filter(
            owner_id=link.user_id, pk__in=ids | set(by_external.values())
        )
    }
    zone = link.user.zone()
    cards = []
    for message in messages:
        pk = int(message.subject) if message.subject.isdigit() else by_external.get(message.subject)
        meeting = meetings.get(pk) if pk is not None else None
        if meeting is not None:
            title, when = meeting.title, _when(meeting, zone)
        elif message.title:
            title, when = message.title, _when_stored(message.start, zone)
        elif message.subject:
            title, when = _("An event in your external calendar"), ""
        else:
            title, when = f"{link.provider_label}: {link.calendar_name}", ""
        cards.append(MessageCard(message, title, when, readable(message.rendered())))
    return cards


def card_url(message: SyncMessage) -> str:
    """The card's address, absolute where the installation knows its public address."""
    path = f"{reverse('calsync:calendarsync')}#message-{message.pk}"
    return f"{settings.CALSYNC_PUBLIC_URL}{path}" if settings.CALSYNC_PUBLIC_URL else path


def email_body(link: CalendarLink, messages: Iterable[SyncMessage]) -> str:
    """The e-mail of new messages: each card's meeting, date and text, and where its buttons are.
    In the active language: the sender wraps it in the recipient's (``translation.override``)."""
    parts = []
    for card in cards_for(link, messages):
        heading = f"{card.title} ({card.when})" if card.when else card.title
        link_line = (
            "\n" + _("Open: %(url)s") % {"url": card_url(card.message)}
            if settings.CALSYNC_PUBLIC_URL
            else ""
        )
        parts.append(f"{heading}\n{card.text}{link_line}")
    where = (
        ""
        if settings.CALSYNC_PUBLIC_URL
        else "\n\n"
        + _("The buttons that fix each of these are on My Account > CalendarSync in CalSync.")
    )
    intro = _("CalendarSync has news about %(provider)s “%(calendar)s” (%(account)s):") % {
        "provider": link.provider_label,
        "calendar": link.calendar_name,
        "account": link.account,
    }
    return intro + "\n\n" + "\n\n".join(parts) + where
