"""Texts stored now and read later, in the reader's language (issue 18 §11).

A sync run writes its messages in a worker, with no reader and so no language. What it stores is
the message's source: a ``recurrence.Text`` (a ``gettext_noop`` template with its parameters, a
parameter possibly a ``Text`` itself), kept as JSON in ``SyncMessage.source``::

    {"template": "The meeting %(name)s could not be synchronised: %(reason)s ...",
     "params": {"name": "“Intake” of 2026-12-01", "reason": {"template": "...", "params": {}}}}

A plain string parameter is data (a title, a provider's own words) and is shown as it is. The
page renders the source with Django's ``gettext`` in the request's language; the e-mail inside
``translation.override`` of the recipient's. ``SyncMessage.text`` keeps the English rendering
for the admin, the logs and rows from before sources existed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import translation
from django.utils.translation import gettext

from recurrence import Text

Source = dict[str, Any]


def text(template: str, **params: str | int | Text) -> Text:
    """A translatable template with its parameters (``template`` marked with ``gettext_noop``)."""
    return Text.of(template, **params)


def label(value: object) -> Text:
    """A label marked elsewhere (a choices label, ``gettext_lazy``) as a stored ``Text``: its
    msgid, translated when the message is read. Words no catalogue holds (a brand) stay."""
    with translation.override(None):
        return Text(str(value))


def to_source(value: Text) -> Source:
    """The JSON form of ``value``, nested parameters included."""
    return {
        "template": value.template,
        "params": {k: to_source(v) if isinstance(v, Text) else v for k, v in value.params},
    }


def from_source(source: Source) -> Text:
    params = source.get("params") or {}
    return Text.of(
        str(source.get("template", "")),
        **{k: from_source(v) if isinstance(v, dict) else v for k, v in params.items()},
    )


def english(value: Text) -> str:
    """The English rendering (the templates are English): what ``SyncMessage.text`` keeps."""
    return value.render(lambda s: s)


def render(source: Source, translate: Callable[[str], str] = gettext) -> str:
    """The stored source in the active language (Django's ``gettext``); a template missing from
    the catalogue comes back in English, and a translation whose placeholders do not fit the
    parameters falls back to the English template rather than breaking the page."""
    value = from_source(source)
    try:
        return value.render(translate)
    except (KeyError, TypeError, ValueError):
        return english(value)
