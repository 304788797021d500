"""Time zones as Graph takes them (PROTOCOLS.md §2.3; issue 19 item 4).

Graph's ``dateTimeTimeZone.timeZone`` (and ``recurrenceTimeZone``) "can be set to any of the time
zones currently supported by Windows, as well as the additional time zones supported by the
calendar API": a fixed list of IANA names that has ``Europe/Berlin`` but not
``Europe/Amsterdam`` (microsoft-graph-docs-contrib,
``api-reference/v1.0/resources/datetimetimezone.md``). Any other name is refused with 400
``TimeZoneNotSupportedException`` ("A valid TimeZone value must be specified...",
microsoft-graph-docs#4758). So we write Windows names and keep the IANA zone ourselves:

* **Writing** (:func:`windows_name`): the Windows zone CLDR's ``windowsZones`` table gives for the
  IANA zone (``tzlocal.windows_tz``, regenerated from CLDR with each tzlocal release; never a
  table of our own: zones change, as British Columbia's and Alberta's did in 2026). A zone the
  table does not name (``Antarctica/Troll``, the legacy ``CST6CDT``-style names), or names with
  another clock than this system's zone rules give, gets a Windows zone that keeps the same
  clock over the coming three years. No Windows zone keeps Troll's
  clock (UTC+0 in winter, +2 in summer): such an event is written in UTC (see
  ``mapping.graph_zone``).
* **Reading** (:func:`read_zone`): a Windows name stands for many IANA zones (``W. Europe
  Standard Time`` is Amsterdam, Berlin, Rome...). We read the zone we wrote (kept in our own
  extended property) while Outlook still shows a zone with its clock, else the user's zone when
  it keeps the same clock, else CLDR's zone for that Windows name.

"The same clock" compares UTC offsets over three years from today, hour by hour (sampled daily,
and hourly around each change), with this system's zone database.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from tzlocal.windows_tz import tz_win, win_tz

UTC_NAME = "UTC"  # a Windows zone name and an IANA one (Graph answers times in it, §2.1)
_UTC_ALIASES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Zulu", "Zulu", "Etc/UCT"})
_SAMPLE_DAYS = 3 * 366


@lru_cache(maxsize=2048)
def known(name: str) -> bool:
    """Whether ``name`` is an IANA zone this system has."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def iana_zone(name: object) -> str | None:
    """The IANA zone for a zone name Graph sends (IANA or Windows), or None when unknown
    (``tzone://Microsoft/Custom``, a name of a Windows version newer than our table)."""
    if not isinstance(name, str) or not name.strip():
        return None
    name = name.strip()
    for candidate in (name, win_tz.get(name)):
        if candidate and known(candidate):
            return candidate
    return None


def _today() -> date:
    return datetime.now(UTC).date()


@lru_cache(maxsize=1024)
def _clock(name: str, today: date) -> tuple[timedelta | None, ...]:
    """The zone's UTC offset at noon UTC on each day of the coming three years."""
    zone = zoneinfo.ZoneInfo(name)
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    days = range(_SAMPLE_DAYS)
    return tuple((noon + timedelta(days=d)).astimezone(zone).utcoffset() for d in days)


@lru_cache(maxsize=4096)
def _same_clock(first: str, second: str, today: date) -> bool:
    daily = _clock(first, today)
    if daily != _clock(second, today):
        return False
    # Equal at every noon: each change of ``first`` falls in the same 24 hours as one of
    # ``second``; compare those hours one by one (Chisinau and Kyiv change on the same
    # Sundays, an hour apart).
    one, two = zoneinfo.ZoneInfo(first), zoneinfo.ZoneInfo(second)
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    for day in range(1, len(daily)):
        if daily[day] != daily[day - 1]:
            for hour in range(24):
                moment = noon + timedelta(days=day - 1, hours=hour)
                if moment.astimezone(one).utcoffset() != moment.astimezone(two).utcoffset():
                    return False
    return True


def same_clock(first: str, second: str, today: date | None = None) -> bool:
    """Whether two IANA zones keep the same UTC offset, hour by hour, over the coming three
    years."""
    if first == second:
        return True
    if not (known(first) and known(second)):
        return False
    return _same_clock(first, second, today or _today())


def windows_name(iana: str, *, avoid: frozenset[str] = frozenset()) -> str | None:
    """The Windows zone name to write for ``iana``: CLDR's, else one with the same clock (the
    first by name), None when no Windows zone keeps its clock. ``avoid``: names Graph refused."""
    name = tz_win.get(iana)
    # CLDR's Windows zone, when it keeps the zone's clock by this system's zone rules (CLDR
    # and tzdata can disagree: CLDR maps Antarctica/Casey to UTC+11, tzdata 2025b keeps it at
    # +8; Outlook would show such an event three hours off).
    if name and name not in avoid and same_clock(iana, win_tz.get(name, "")):
        return name
    return _same_clock_windows(iana, avoid, _today())


@lru_cache(maxsize=256)
def _same_clock_windows(iana: str, avoid: frozenset[str], today: date) -> str | None:
    if not known(iana):
        return None
    for name, representative in sorted(win_tz.items()):
        if name not in avoid and known(representative) and same_clock(iana, representative, today):
            return name
    return None


def is_utc(name: str) -> bool:
    return name in _UTC_ALIASES


def read_zone(raw: object, *, ours: str | None = None, default_zone: str = UTC_NAME) -> str:
    """The IANA zone to read an event in, from Graph's zone name ``raw`` (its
    ``originalStartTimeZone``, §2.3).

    1. ``ours``, the zone we wrote (our extended property), while Outlook shows a zone with its
       clock, or UTC, which is how we write a zone no Windows zone matches: nobody changed the
       event's zone in Outlook since.
    2. For a Windows name, the user's zone ``default_zone`` when it keeps the same clock.
    3. The Windows name's CLDR zone, or the IANA name itself ("UTC" for UTC).
    4. Unknown (missing, or a custom zone): ``ours``, else ``default_zone``.
    """
    found = iana_zone(raw)
    if ours and known(ours) and (found is None or same_clock(ours, found) or is_utc(found)):
        return ours
    if found is None:
        return default_zone if known(default_zone) else UTC_NAME
    windows = (isinstance(raw, str) and raw.strip() != found) or is_utc(found)  # UTC is both
    if windows and known(default_zone) and same_clock(default_zone, found):
        return default_zone
    return UTC_NAME if is_utc(found) else found
