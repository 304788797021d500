"""Privacy levels (issue 16 §1, PRODUCT 37): the practice's rules and each link's levels, and the
``Privacy`` the engine applies (``calsync.engine.fields``: what an outside copy holds).

The practice administrator sets the level a new link starts at per kind of meeting, whether staff
may choose a looser one, and the neutral titles of busy copies (*Settings > Privacy*). Staff
choose within that on the CalendarSync page, at any time. Every change bumps the link's
``privacy_version`` and asks for a run, which rewrites the existing copies in one go.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Tenant, User
from accounts.services import audit_record
from calsync.engine.fields import STRICTNESS, Kind, Level, Privacy, strictest
from calsync.models import CalendarLink, LinkState, PracticePrivacy, PrivacyLevel

KINDS: tuple[Kind, ...] = (Kind.CLIENT, Kind.OTHER, Kind.PERSONAL)
KIND_LABELS = {
    Kind.CLIENT: gettext_lazy("Client appointments"),
    Kind.OTHER: gettext_lazy("Other meetings"),
    Kind.PERSONAL: gettext_lazy("Personal meetings"),
}


def practice_privacy(tenant: Tenant | int) -> PracticePrivacy:
    """The practice's rules (its defaults, unsaved, when it never set any); one query."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    found = PracticePrivacy.objects.filter(tenant_id=tenant_id).first()
    return found if found is not None else PracticePrivacy(tenant_id=tenant_id)


def _default(rules: PracticePrivacy, kind: Kind) -> Level:
    return Level(getattr(rules, f"{kind}_level"))


def allowed_levels(rules: PracticePrivacy, kind: Kind) -> list[Level]:
    """The levels staff may choose for ``kind``: any, or only those at least as strict as the
    practice's default when it does not let staff loosen it."""
    floor = STRICTNESS[_default(rules, kind)]
    return [level for level in Level if rules.staff_may_loosen or STRICTNESS[level] >= floor]


def effective_levels(link: CalendarLink, rules: PracticePrivacy) -> dict[Kind, Level]:
    """The levels a link syncs at: its own, made stricter where the practice does not let staff
    loosen its default (a default tightened later applies to existing links too)."""
    levels = {}
    for kind in KINDS:
        own = Level(getattr(link, f"privacy_{kind}"))
        levels[kind] = own if rules.staff_may_loosen else strictest(own, _default(rules, kind))
    return levels


def link_privacy(link: CalendarLink) -> Privacy:
    """What the engine applies to ``link`` (one query)."""
    rules = practice_privacy(link.tenant_id)
    levels = effective_levels(link, rules)
    return Privacy(
        client=levels[Kind.CLIENT],
        other=levels[Kind.OTHER],
        personal=levels[Kind.PERSONAL],
        client_title=rules.client_title,
        other_title=rules.other_title,
        personal_title=rules.personal_title,
    )


def levels_for_new_link(tenant: Tenant, chosen: dict[str, str]) -> dict[str, str]:
    """A new link's levels as ``CalendarLink`` field values: ``chosen`` (by kind, at Setup)
    where given, the practice's defaults elsewhere. ``ValidationError`` for a level the practice
    does not allow."""
    rules = practice_privacy(tenant)
    return _checked(rules, {kind: chosen.get(kind) or str(_default(rules, kind)) for kind in KINDS})


def _checked(rules: PracticePrivacy, levels: dict[str, str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for kind in KINDS:
        level = _parse(levels[kind], kind)
        if level not in allowed_levels(rules, kind):
            raise ValidationError(
                _("%(kind)s: your practice does not allow a level looser than “%(level)s”.")
                % {"kind": KIND_LABELS[kind], "level": PrivacyLevel(_default(rules, kind)).label},
                code="not_allowed",
            )
        chosen[f"privacy_{kind}"] = str(level)
    return chosen


def _parse(value: str, kind: Kind) -> Level:
    try:
        return Level(value)
    except ValueError:
        raise ValidationError(
            _("%(kind)s: “%(value)s” is not a privacy level.")
            % {"kind": KIND_LABELS[kind], "value": value},
            code="invalid",
        ) from None


def link_privacy_update(*, link: CalendarLink, actor: User, levels: dict[str, str]) -> bool:
    """Set a link's levels (``levels``: by kind, "full", "title" or "busy"). ``ValidationError``
    for a level the practice does not allow. Returns whether anything changed; a change asks for
    a run that rewrites the existing outside copies (both ways)."""
    rules = practice_privacy(link.tenant_id)
    chosen = _checked(
        rules, {kind: levels.get(kind) or getattr(link, f"privacy_{kind}") for kind in KINDS}
    )
    if all(getattr(link, name) == value for name, value in chosen.items()):
        return False
    with transaction.atomic():
        CalendarLink.objects.filter(pk=link.pk).update(
            **chosen, privacy_version=F("privacy_version") + 1
        )
        audit_record(
            tenant=link.tenant,
            actor=actor,
            action="calsync.privacy",
            target=str(link),
            details={"link": link.pk, **chosen},
        )
        _rewrite([link.pk])
    link.refresh_from_db()
    return True


def practice_privacy_update(
    *,
    tenant: Tenant,
    actor: User,
    levels: dict[str, str],
    staff_may_loosen: bool,
    titles: dict[str, str],
) -> PracticePrivacy:
    """Set the practice's rules (``levels`` and ``titles`` by kind). Every live link of the
    practice is rewritten at its next run if what it sends may have changed (a neutral title, a
    default that staff may not loosen). ``ValidationError`` for an unknown level or a blank or
    overlong title."""
    rules = practice_privacy(tenant)
    for kind in KINDS:
        setattr(rules, f"{kind}_level", str(_parse(levels[kind], kind)))
        title = " ".join(str(titles[kind]).split())  # one line: it is a calendar event's title
        if not title:
            raise ValidationError(
                _("%(kind)s: a busy copy needs a title, e.g. “Busy”.")
                % {"kind": KIND_LABELS[kind]},
                code="blank",
            )
        if len(title) > 120:
            raise ValidationError(
                _("%(kind)s: the title is longer than 120 characters.")
                % {"kind": KIND_LABELS[kind]},
                code="long",
            )
        setattr(rules, f"{kind}_title", title)
    rules.staff_may_loosen = staff_may_loosen
    rules.updated_at = timezone.now()
    with transaction.atomic():
        rules.save()
        links = CalendarLink.objects.filter(tenant=tenant)
        links.update(privacy_version=F("privacy_version") + 1)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="calsync.practice_privacy",
            target=str(tenant),
            details={
                **{f"{k}_level": getattr(rules, f"{k}_level") for k in KINDS},
                **{f"{k}_title": getattr(rules, f"{k}_title") for k in KINDS},
                "staff_may_loosen": staff_may_loosen,
            },
        )
        _rewrite(list(links.filter(state=LinkState.ACTIVE).values_list("pk", flat=True)))
    return rules


def _rewrite(link_ids: list[int]) -> None:
    """Ask for the runs that rewrite the copies (after the commit, on the interactive queue)."""
    from calsync import scheduler  # the scheduler imports the engine, which imports this

    for link_id in link_ids:
        scheduler.request_sync(link_id)
