"""Form fields that take database ids from the request.

A posted id is text: a huge number such as ``99999999999999999999`` reaches the database as an
integer no column can hold, and SQLite (the embedded default) answers with an ``OverflowError``:
a 500. These fields refuse any value that is not a possible id (a positive 64-bit integer) as
"not one of the choices" before the query is built. Use them for every choice of model rows.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model

# BigAutoField's range (PostgreSQL bigint, SQLite INTEGER).
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"\s*\d{1,19}\s*")


def is_possible_id(value: object) -> bool:
    if isinstance(value, Model):
        return True
    text = str(value)
    return bool(_DIGITS.fullmatch(text)) and 0 < int(text) <= MAX_ID


class IdChoiceField(forms.ModelChoiceField[Any]):
    """``ModelChoiceField`` that refuses impossible ids with its "invalid choice" error."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not is_possible_id(value):
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return super().to_python(value)


class IdMultipleChoiceField(forms.ModelMultipleChoiceField[Any]):
    """``ModelMultipleChoiceField`` that refuses impossible ids with its "invalid choice" error."""

    def _check_values(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            for item in value:
                if not is_possible_id(item):
                    raise ValidationError(
                        self.error_messages["invalid_choice"],
                        code="invalid_choice",
                        params={"value": item},
                    )
        return super()._check_values(value)  # type: ignore[misc]  # private, not in the stubs
