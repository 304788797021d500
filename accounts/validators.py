"""Validators for what people type as names (a person's, a practice's, a client's, a room's)."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

# Control characters (CR, LF, TAB, NUL …) and the Unicode line and paragraph separators. A name
# ends up in e-mail headers (a subject that names the practitioner), iCalendar lines and one-line
# page elements: a line break there is a header injection (``Eve\r\nBcc: …``) or a broken line.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def validate_name(value: str) -> None:
    """A name on one line: no control characters, no line or paragraph separators."""
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value):
        raise ValidationError(
            gettext(
                "A name must be on one line, without line breaks, tabs or other control characters."
            ),
            code="name_control_characters",
        )
