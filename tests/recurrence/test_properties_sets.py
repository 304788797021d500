"""Hypothesis properties for recurrence *sets* (issue 13): RDATEs and repeated RRULEs are held only
when the dates come out exactly as dateutil's own ``rruleset`` gives them, and flagged otherwise.

The generated rules are those of ``test_properties`` (kept as they are); the truth is dateutil's
expansion of each line as written (``helpers.rfc_occurrences``) joined with the added dates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from recurrence import from_rrule
from tests.recurrence.helpers import Value, rfc_occurrences
from tests.recurrence.test_properties import SETTINGS, _check_exact_or_flagged, rrule_lines


def _unbounded(line: str) -> str:
    return re.sub(r";(COUNT|UNTIL)=[^;]*|(COUNT|UNTIL)=[^;]*;", "", line)


def _rdate_line(values: list[Value]) -> str:
    if isinstance(values[0], datetime):
        return "RDATE:" + ",".join(f"{v.astimezone(UTC):%Y%m%dT%H%M%SZ}" for v in values)  # type: ignore[union-attr]
    return "RDATE;VALUE=DATE:" + ",".join(f"{v:%Y%m%d}" for v in values)


def _key(value: Value) -> tuple[str, str]:
    if isinstance(value, datetime):
        return (value.astimezone(UTC).isoformat(), "")
    return (value.isoformat(), "")


@settings(SETTINGS, max_examples=300)
@given(rrule_lines(), st.data())
def test_rrule_with_rdates_is_exact_or_flagged(
    case: tuple[str, Value], data: st.DataObject
) -> None:
    line, start = case
    # RDATEs among the rule's own dates and the ones just after its end, or off its pattern.
    candidates = rfc_occurrences(_unbounded(line), start)[:40]
    off = [v + timedelta(days=1) for v in candidates[:5]]
    if isinstance(start, datetime):
        off += [v + timedelta(hours=1) for v in candidates[:5]]
    picks = data.draw(st.lists(st.sampled_from(candidates + off), min_size=1, max_size=3))
    truth = sorted(set(rfc_occurrences(line, start)) | set(picks), key=_key)
    tr = from_rrule([line, _rdate_line(picks)], start)
    event("held" if tr.rule is not None else "refused")
    _check_exact_or_flagged(tr, truth)


@settings(SETTINGS, max_examples=200)
@given(rrule_lines(), rrule_lines())
def test_several_rrules_are_exact_or_flagged(
    first: tuple[str, Value], other: tuple[str, Value]
) -> None:
    line, start = first
    second = other[0]
    truth = sorted(
        set(rfc_occurrences(line, start)) | set(rfc_occurrences(second, start)), key=_key
    )
    tr = from_rrule([line, second], start)
    event("held" if tr.rule is not None else "refused")
    _check_exact_or_flagged(tr, truth)
    twice = from_rrule([line, line], start)
    once = from_rrule([line], start)
    assert twice.rule == once.rule and twice.flags == once.flags  # the same line twice is one
