"""``{% link_privacy_form link %}``: a link's privacy form on the CalendarSync page, built here so
that the page's view need not know about privacy levels (one include line in its template)."""

from __future__ import annotations

from typing import Any

from django import template

from calsync.models import CalendarLink
from calsync.privacy import effective_levels, practice_privacy
from calsync.privacy_forms import LinkPrivacyForm

register = template.Library()


@register.inclusion_tag("calsync/_privacy_form.html", takes_context=True)
def link_privacy_form(context: Any, link: CalendarLink) -> dict[str, Any]:
    rules = practice_privacy(link.tenant_id)
    effective = effective_levels(link, rules)
    stricter = any(str(effective[k]) != getattr(link, f"privacy_{k}") for k in effective)
    return {
        "link": link,
        "form": LinkPrivacyForm(rules=rules, link=link, prefix=f"privacy-{link.pk}"),
        "loosen": rules.staff_may_loosen,
        "stricter": stricter,
        "pending": link.privacy_applied < link.privacy_version,
        "csrf_token": context.get("csrf_token"),
    }
