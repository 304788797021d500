"""Forms of the privacy levels (issue 16 §1): a link's levels (Setup and the CalendarSync page)
and the practice's rules (*Settings > Privacy*)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from calsync.engine.fields import Kind
from calsync.models import CalendarLink, PracticePrivacy, PrivacyLevel
from calsync.privacy import KINDS, allowed_levels

LABELS = {
    Kind.CLIENT: _("Client appointments"),
    Kind.OTHER: _("Other meetings"),
    Kind.PERSONAL: _("Personal meetings"),
}
HELP = _(
    "Full details: everything. Title and time: no description, attendees or location. "
    "Busy only: the practice's neutral title and the time, nothing else."
)


class LinkPrivacyForm(forms.Form):
    """The levels of one link, each limited to what the practice allows. A level left out keeps
    the link's (at Setup: the practice's default), so a client that knows nothing of levels
    still sets a calendar up."""

    def __init__(
        self,
        *args: Any,
        rules: PracticePrivacy,
        link: CalendarLink | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for kind in KINDS:
            allowed = allowed_levels(rules, kind)
            current = getattr(link, f"privacy_{kind}") if link else getattr(rules, f"{kind}_level")
            self.fields[str(kind)] = forms.ChoiceField(
                label=LABELS[kind],
                choices=[(str(level), PrivacyLevel(level).label) for level in allowed],
                initial=current if current in allowed else str(allowed[0]),
                required=False,
            )

    def levels(self) -> dict[str, str]:
        return {str(k): self.cleaned_data[str(k)] for k in KINDS if self.cleaned_data.get(str(k))}


class PracticePrivacyForm(forms.Form):
    staff_may_loosen = forms.BooleanField(
        label=_("Staff may choose a looser level than the default"), required=False
    )

    def __init__(self, *args: Any, rules: PracticePrivacy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff_may_loosen"].initial = rules.staff_may_loosen
        for kind in KINDS:
            self.fields[f"{kind}_level"] = forms.ChoiceField(
                label=LABELS[kind],
                choices=PrivacyLevel.choices,
                initial=getattr(rules, f"{kind}_level"),
            )
            self.fields[f"{kind}_title"] = forms.CharField(
                label=_("Title of a busy copy"),
                max_length=120,
                initial=getattr(rules, f"{kind}_title"),
                help_text=_("What the outside calendar shows instead, e.g. “Busy”."),
            )
        # The checkbox last, after the levels it is about.
        self.order_fields([*(f"{k}_{f}" for k in KINDS for f in ("level", "title"))])

    def levels(self) -> dict[str, str]:
        return {str(kind): self.cleaned_data[f"{kind}_level"] for kind in KINDS}

    def titles(self) -> dict[str, str]:
        return {str(kind): self.cleaned_data[f"{kind}_title"] for kind in KINDS}
