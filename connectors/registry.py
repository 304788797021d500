"""The providers, by slug: one explicit dict, imported lazily (STYLE 3). No registration by
import side effect, and model choices are not built from it."""

from __future__ import annotations

from importlib import import_module

from connectors.base import Provider

PROVIDERS: dict[str, str] = {
    "caldav": "connectors.caldav.provider:CalDAVProvider",
    "google": "connectors.google.provider:GoogleProvider",
    "microsoft": "connectors.microsoft.provider:MicrosoftProvider",
}


def get(slug: str) -> Provider:
    """The provider for ``slug``; ``KeyError`` for an unknown one."""
    module_name, _, class_name = PROVIDERS[slug].partition(":")
    provider: Provider = getattr(import_module(module_name), class_name)()
    return provider
