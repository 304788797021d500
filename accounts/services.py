"""Writes to tenants and users. Views, commands and tasks call these; nothing else writes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import tokens
from accounts.models import (
    AuditEntry,
    Invitation,
    InvitationState,
    PendingSignup,
    Role,
    Tenant,
    User,
)

logger = logging.getLogger(__name__)


def user_mark_seen(*, user: User, now: datetime) -> bool:
    """Set ``last_seen_at`` to ``now`` unless another request did so within the resolution.

    One conditional UPDATE: concurrent requests of one user write at most once. Returns whether
    this call wrote.
    """
    resolution = timedelta(seconds=settings.ACCOUNTS_ACTIVITY_RESOLUTION_SECONDS)

    updated = (
        User.objects.filter(pk=user.pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=now - resolution))
        .update(last_seen_at=now)
    )
    user.last_seen_at = now
    return bool(updated)


@transaction.atomic
def tenant_create(*, name: str, slug: str, time_zone: str = "Europe/Amsterdam") -> Tenant:
    tenant = Tenant(name=name, slug=slug, time_zone=time_zone)
    tenant.full_clean()
    tenant.save()
    return tenant


def user_create(
    *,
    tenant: Tenant,
    email: str,
    role: Role | str,
    full_name: str = "",
    password: str | None = None,
    time_zone: str | None = None,
) -> User:
    """A user of ``tenant``. Without a password the account cannot log in until the user sets one
    through the password-reset e-mail."""
    return User.objects.create_user(
        email,
        password,
        tenant=tenant,
        role=str(role),
        full_name=full_name,
        time_zone=time_zone or tenant.time_zone,
    )


def user_update_profile(
    *, user: User, full_name: str, time_zone: str, language: str | None = None
) -> User:
    """Save My Account's details. ``language`` empty means "my browser's"; ``None`` leaves it."""
    user.full_name = full_name
    user.time_zone = time_zone
    fields = ["full_name", "time_zone"]
    if language is not None:
        user.language = language
        fields.append("language")
    user.full_clean(exclude=["password"])
    user.save(update_fields=fields)
    return user


def user_remember_browser_language(*, user: User, language: str) -> None:
    """Keep the browser's language of this login for what is sent while the user is away
    (``User.preferred_language``); one write per login, none when it did not change."""
    if user.browser_language != language:
        user.browser_language = language
        User.objects.filter(pk=user.pk).update(browser_language=language)


def record_label(role: Role | str) -> str:
    """A role's label for an audit entry: the operators' record, written in the installation's
    language whatever the language of the page that made the change."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(Role(role).label)


def audit_record(
    *,
    tenant: Tenant | None,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry (billing: purchase, cancel, grant; later linking). Call it inside the
    transaction of the change it records, so both land or neither does."""
    entry = AuditEntry(
        tenant=tenant,
        actor=actor,
        actor_label=actor.email if actor is not None else "",
        action=action,
        target=target[:300],
        details=details or {},
    )
    entry.full_clean()
    entry.save()
    return entry


# --- e-mail ---------------------------------------------------------------------------------------


def _send_after_commit(*, subject: str, template: str, to: str, context: dict[str, Any]) -> None:
    """Send one e-mail once the transaction commits (a rolled-back change tells nobody); a mail
    server's refusal is logged, never turned into a failed request.

    Subject and body are written now, in the active language: the callers' recipients (a sign-up
    to verify, an invited person) have no account, so no language of their own yet, and get the
    language of the page that sent the e-mail (the signer's, the inviting administrator's)."""
    body = render_to_string(template, context)

    def send() -> None:
        try:
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to]).send()
        except Exception:
            logger.exception("accounts: the e-mail %r was not sent", subject)

    transaction.on_commit(send, robust=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def email_taken(email: str) -> bool:
    return User.objects.filter(email=email.strip().lower()).exists()


# --- sign-up (docs/features.md, 40) ---------------------------------------------------------------


@dataclass(frozen=True)
class SignupData:
    practice_name: str
    time_zone: str
    full_name: str
    email: str
    password: str


TAKEN_MESSAGE = _(
    "An account with this e-mail address exists already. Log in, or reset your password if you "
    "forgot it."
)


def signup_request(*, data: SignupData, link: Callable[[str], str]) -> PendingSignup:
    """Keep the sign-up until its address is verified and e-mail the verification link
    (``link(token)`` makes the page's absolute URL). A second request for the same address
    updates the first, so a double submit makes one pending sign-up and, later, one practice.
    ``ValidationError`` for an address that is a user already, or for a password Django's
    validators refuse."""
    email = data.email.strip().lower()
    if email_taken(email):
        raise ValidationError({"email": TAKEN_MESSAGE}, code="taken")
    password_validation.validate_password(
        data.password, User(email=email, full_name=data.full_name)
    )
    now = timezone.now()
    # Sign-ups whose link has expired can never be verified: forget them (and their hashes).
    PendingSignup.objects.filter(
        updated_at__lt=now - timedelta(hours=settings.ACCOUNTS_SIGNUP_LINK_HOURS)
    ).delete()
    with transaction.atomic():
        pending = PendingSignup.objects.select_for_update().filter(email=email).first()
        if pending is None:
            pending = PendingSignup(email=email, token=tokens.new_token(), created_at=now)
        pending.practice_name = data.practice_name.strip()
        pending.time_zone = data.time_zone
        pending.full_name = data.full_name.strip()
        pending.password = make_password(data.password)
        pending.updated_at = now
        pending.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                pending.save()
        except IntegrityError:
            # A concurrent first request for this address won the insert: take its row.
            pending = PendingSignup.objects.select_for_update().get(email=email)
        # In the language of the sign-up page (the address has no account yet: _send_after_commit).
        _send_after_commit(
            subject=gettext("Confirm your e-mail address to start using CalSync"),
            template="accounts/email_verify.txt",
            to=email,
            context={
                "pending": pending,
                "url": link(tokens.signup_link_token(pending.pk, pending.token, email)),
                "hours": settings.ACCOUNTS_SIGNUP_LINK_HOURS,
            },
        )
    return pending


class SignupLinkError(Exception):
    """Why a verification link did not create a practice: ``invalid``, ``expired``, ``used``
    (this address has its practice already: log in) or ``taken`` (another account took the
    address meanwhile)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _unique_slug(name: str) -> str:
    base = (slugify(name) or "practice")[:50].strip("-") or "practice"
    slug = base
    while Tenant.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def signup_verify(*, link_token: str) -> User:
    """Create the practice and its first administrator from a verified sign-up, once: the
    pending row is locked and deleted in the same transaction, so a second click (or a second
    tab) finds it gone and is told to log in. Returns the new administrator."""
    try:
        data = tokens.read_signup_link(
            link_token, max_age_seconds=settings.ACCOUNTS_SIGNUP_LINK_HOURS * 3600
        )
    except tokens.LinkError as exc:
        raise SignupLinkError(exc.kind) from exc
    with transaction.atomic():
        pending = PendingSignup.objects.select_for_update().filter(pk=data.pk).first()
        if pending is None or pending.token != data.token:
            if email_taken(data.email):
                raise SignupLinkError("used")
            raise SignupLinkError("invalid")
        if email_taken(pending.email):
            pending.delete()
            raise SignupLinkError("taken")
        tenant = tenant_create(
            name=pending.practice_name,
            slug=_unique_slug(pending.practice_name),
            time_zone=pending.time_zone,
        )
        user = User(
            email=pending.email,
            full_name=pending.full_name,
            tenant=tenant,
            role=Role.ADMIN,
            time_zone=pending.time_zone,
            password=pending.password,  # the hash made at sign-up
        )
        user.full_clean(exclude=["password"])
        user.save()
        pending.delete()
        audit_record(
            tenant=tenant,
            actor=user,
            action="accounts.signup",
            target=f"{tenant.name} signed up",
            details={"tenant": tenant.pk, "user": user.pk},
        )
    return user


# --- invitations (docs/features.md, 40) -----------------------------------------------------------

CANNOT_INVITE = _(
    "This address cannot be invited: it belongs to an existing CalSync account. Ask the person "
    "which address to invite, or whether they should use the account they have."
)


def _check_admin(actor: User, tenant: Tenant) -> None:
    if not actor.is_practice_admin or actor.tenant_id != tenant.pk or not actor.is_active:
        raise ValidationError(gettext("Only an administrator of this practice may do this."))


def _lock_tenant(tenant: Tenant) -> Tenant:
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def _invitation_mail(invitation: Invitation, link: Callable[[str], str]) -> None:
    """The invitation e-mail, in the language of the administrator's page that sends it: the
    invited person has no account, so no language of their own yet (``_send_after_commit``)."""
    tenant = invitation.tenant
    inviter = invitation.invited_by
    _send_after_commit(
        subject=_one_line(
            gettext("You are invited to %(practice)s on CalSync") % {"practice": tenant.name}
        ),
        template="accounts/email_invitation.txt",
        to=invitation.email,
        context={
            "invitation": invitation,
            "tenant": tenant,
            "inviter": inviter.get_full_name() if inviter else gettext("An administrator"),
            "role": Role(invitation.role).label.lower(),
            "url": link(
                tokens.invitation_link_token(invitation.pk, invitation.token, invitation.email)
            ),
            "days": settings.ACCOUNTS_INVITATION_DAYS,
        },
    )


def invitation_create(
    *, tenant: Tenant, actor: User, email: str, role: Role | str, link: Callable[[str], str]
) -> Invitation:
    """Invite ``email`` to ``tenant`` as ``role`` and e-mail the link. Refused, with one message
    that does not say which practice, when the address is a user already; inviting an address
    with an open invitation is refused too (resend that one)."""
    email = email.strip().lower()
    role = str(role)
    if role not in Role.values:
        raise ValidationError({"role": gettext("Choose staff or administrator.")})
    with transaction.atomic():
        _lock_tenant(tenant)
        _check_admin(actor, tenant)
        if email_taken(email):
            raise ValidationError({"email": CANNOT_INVITE}, code="taken")
        if Invitation.objects.filter(
            tenant=tenant, email=email, state=InvitationState.OPEN
        ).exists():
            raise ValidationError(
                {"email": gettext("This address has an open invitation already: resend it below.")}
            )
        invitation = Invitation(
            tenant=tenant, email=email, role=role, token=tokens.new_token(), invited_by=actor
        )
        invitation.full_clean()
        invitation.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="accounts.invite",
            target=f"{email} as {record_label(role).lower()}",
            details={"invitation": invitation.pk, "email": email, "role": role},
        )
        _invitation_mail(invitation, link)
    return invitation


def _locked_open_invitation(invitation: Invitation) -> Invitation:
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.state == InvitationState.ACCEPTED:
        raise ValidationError(
            gettext("The invitation of %(email)s was accepted already.") % {"email": locked.email}
        )
    if locked.state != InvitationState.OPEN:
        raise ValidationError(
            gettext("The invitation of %(email)s was cancelled already.") % {"email": locked.email}
        )
    return locked


def invitation_resend(
    *, invitation: Invitation, actor: User, link: Callable[[str], str]
) -> Invitation:
    """Send the invitation again with a new link (the old one stops working) and a new expiry."""
    with transaction.atomic():
        _lock_tenant(invitation.tenant)
        _check_admin(actor, invitation.tenant)
        locked = _locked_open_invitation(invitation)
        locked.token = tokens.new_token()
        locked.sent_at = timezone.now()
        locked.save(update_fields=["token", "sent_at"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="accounts.invite_resend",
            target=locked.email,
            details={"invitation": locked.pk},
        )
        _invitation_mail(locked, link)
    return locked


def invitation_cancel(*, invitation: Invitation, actor: User) -> Invitation:
    with transaction.atomic():
        _lock_tenant(invitation.tenant)
        _check_admin(actor, invitation.tenant)
        locked = _locked_open_invitation(invitation)
        locked.state = InvitationState.CANCELLED
        locked.answered_at = timezone.now()
        locked.save(update_fields=["state", "answered_at"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="accounts.invite_cancel",
            target=locked.email,
            details={"invitation": locked.pk},
        )
    return locked


class InvitationLinkError(Exception):
    """Why an invitation link cannot be used: ``invalid``, ``expired``, ``used`` (accepted),
    ``cancelled`` or ``taken`` (the address became an account meanwhile)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def invitation_for_link(link_token: str) -> Invitation:
    """The open invitation a link names, or ``InvitationLinkError`` saying why not."""
    try:
        data = tokens.read_invitation_link(
            link_token, max_age_seconds=settings.ACCOUNTS_INVITATION_DAYS * 86400
        )
    except tokens.LinkError as exc:
        raise InvitationLinkError(exc.kind) from exc
    invitation = Invitation.objects.select_related("tenant").filter(pk=data.pk).first()
    if invitation is None or invitation.email != data.email:
        raise InvitationLinkError("invalid")
    if invitation.state == InvitationState.ACCEPTED:
        raise InvitationLinkError("used")
    if invitation.state == InvitationState.CANCELLED:
        raise InvitationLinkError("cancelled")
    if invitation.token != data.token:
        # Resent since: only the newest e-mail's link works.
        raise InvitationLinkError("invalid")
    return invitation


def invitation_accept(
    *, link_token: str, full_name: str, password: str, time_zone: str | None = None
) -> User:
    """Make the invited person's account (their name and password) and close the invitation,
    once: the invitation row is locked and re-checked, so two submits make one user."""
    invitation = invitation_for_link(link_token)
    password_validation.validate_password(
        password, User(email=invitation.email, full_name=full_name)
    )
    with transaction.atomic():
        locked = (
            Invitation.objects.select_for_update().select_related("tenant").get(pk=invitation.pk)
        )
        if locked.state != InvitationState.OPEN:
            raise InvitationLinkError("used" if locked.state == "accepted" else "cancelled")
        if locked.token != invitation.token:
            raise InvitationLinkError("invalid")
        if email_taken(locked.email):
            raise InvitationLinkError("taken")
        user = user_create(
            tenant=locked.tenant,
            email=locked.email,
            role=locked.role,
            full_name=full_name.strip(),
            password=password,
            time_zone=time_zone,
        )
        locked.state = InvitationState.ACCEPTED
        locked.answered_at = timezone.now()
        locked.user = user
        locked.save(update_fields=["state", "answered_at", "user"])
        audit_record(
            tenant=locked.tenant,
            actor=user,
            action="accounts.invite_accept",
            target=f"{user.email} joined as {record_label(locked.role).lower()}",
            details={"invitation": locked.pk, "user": user.pk, "role": locked.role},
        )
    return user
