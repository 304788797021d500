"""Tenants (practices) and their users.

Every user except an operator belongs to exactly one tenant and has one role:

* ``admin``: runs the practice's settings and billing; has no calendar and cannot sync.
* ``staff``: a practitioner with a calendar, who may link it to an external calendar.

Operators run the installation; they use the Django admin (``is_operator``) and belong to no
tenant. Everything a tenant owns carries a ``tenant`` foreign key, and views reach it only through
``accounts.access``.
"""

from __future__ import annotations

import importlib.resources
import zoneinfo
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.validators import validate_name


def validate_time_zone(value: str) -> None:
    """An IANA zone name that this machine's zone database knows."""
    if value not in available_time_zones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


def available_time_zones() -> frozenset[str]:
    """The IANA zone names CalSync accepts: the tz database's zones and links as the pinned
    ``tzdata`` package lists them, less ``Factory`` (tzdb's placeholder for "no zone set", whose
    abbreviation is ``-00``).

    Not ``zoneinfo.available_timezones()``: it also lists the files of this machine's zone folder,
    such as ``localtime`` (a copy of whatever zone the host runs in) and ``posixrules``, names no
    provider knows and that we would write as TZID.
    """
    return _ZONES


def _iana_zones() -> frozenset[str]:
    listed = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(name for name in listed.split() if name != "Factory")


_ZONES = _iana_zones()


class Tenant(models.Model):
    name = models.CharField(max_length=200, validators=[validate_name])
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(
        max_length=64, default="Europe/Amsterdam", validators=[validate_time_zone]
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    # One person's role (the select of Settings > People, "as staff" in the invitation): the
    # context keeps them apart from the headings "Staff" and "Administrators" of lists.
    ADMIN = "admin", pgettext_lazy("a person's role", "Administrator")
    STAFF = "staff", pgettext_lazy("a person's role", "Staff")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        # E-mail addresses are stored lower-cased (and unique case-insensitively), so every login
        # path, the admin's included, finds the user whatever case they type.
        return self.get(email=(username or "").strip().lower())

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """An operator: Django admin access, no tenant, no role."""
        extra.update(is_operator=True, is_superuser=True, tenant=None, role="")
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    # The verbose name is the "%(username)s" of Django's "Please enter a correct … and password".
    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(max_length=200, blank=True, validators=[validate_name])
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="users"
    )
    role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    time_zone = models.CharField(
        max_length=64, default="Europe/Amsterdam", validators=[validate_time_zone]
    )
    # One of settings.LANGUAGES, or empty: the browser's language (accounts.middleware).
    language = models.CharField(max_length=10, blank=True, default="")
    # The browser's language at the last login: what e-mails use while ``language`` is empty.
    browser_language = models.CharField(max_length=10, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_operator = models.BooleanField(
        default=False, help_text=_("Operators run the installation and may use the Django admin.")
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Written by ActivityMiddleware at most once a minute; drives the 3/50-minute sync cadence.
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            # Tenant users have a role; operators have neither tenant nor role.
            models.CheckConstraint(
                condition=(
                    models.Q(tenant__isnull=False, role__in=["admin", "staff"])
                    | models.Q(tenant__isnull=True, role="")
                ),
                name="user_tenant_has_role",
            ),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return self.full_name or self.email

    # Django's admin site asks for ``is_staff``; in CalSync "staff" is a tenant role, so the admin
    # flag is called ``is_operator`` and this property keeps the admin working.
    @property
    def is_staff(self) -> bool:
        return self.is_operator

    @property
    def is_practice_admin(self) -> bool:
        return self.tenant_id is not None and self.role == Role.ADMIN

    @property
    def is_practice_staff(self) -> bool:
        return self.tenant_id is not None and self.role == Role.STAFF

    @property
    def has_calendar(self) -> bool:
        """Administrators have no calendar (docs/features.md, "Who uses it")."""
        return self.is_practice_staff

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def preferred_language(self) -> str:
        """The language of what reaches the user outside a page (e-mails, background work): their
        choice, else their browser's at the last login, else the installation's default."""
        known = {code for code, _name in settings.LANGUAGES}
        for code in (self.language, self.browser_language):
            if code in known:
                return code
        return str(settings.LANGUAGE_CODE)


class AuditEntry(models.Model):
    """Who did what to a tenant's billing or links, for the record (QUALITY.md: audit entries for
    billing and linking). Append-only: the model refuses to change or delete an entry; only the
    cascade of a deleted tenant removes them.

    ``action`` is a dotted name (``billing.purchase``, ``billing.cancel``, ``billing.grant``,
    ``calsync.link`` …); ``target`` says in words what it applied to; ``details`` holds the ids
    and amounts. ``actor_label`` keeps the actor's e-mail after the user is gone; an operator's
    command or a task has no actor.
    """

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=320, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("audit entries")
        indexes = [models.Index(fields=["tenant", "created_at"], name="audit_tenant_created")]

    def __str__(self) -> str:
        return f"{self.action} · {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Audit entries are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Audit entries are never deleted.")


class PendingSignup(models.Model):
    """A practice asked for on the sign-up page and not verified yet (docs/features.md, 40).

    Nothing else exists until the e-mailed link is opened: no tenant, no user. So a double submit
    updates this one row (the address is unique here) instead of making a second practice, an
    unverified address blocks nobody, and verifying consumes the row under a lock: the practice is
    created once, whichever of two clicks comes first. The password is kept as Django's hash only.
    """

    email = models.EmailField(unique=True)
    practice_name = models.CharField(max_length=200, validators=[validate_name])
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    full_name = models.CharField(max_length=200, validators=[validate_name])
    password = models.CharField(max_length=128)
    # The secret part of the e-mailed link (signed with the timestamp, accounts.signup).
    token = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.practice_name} ({self.email}, not verified)"


class InvitationState(models.TextChoices):
    OPEN = "open", _("Waiting for an answer")
    ACCEPTED = "accepted", pgettext_lazy("an invitation's state", "Accepted")
    CANCELLED = "cancelled", pgettext_lazy("an invitation's state", "Cancelled")


class Invitation(models.Model):
    """An administrator's invitation of a person to their practice, by e-mail.

    The e-mailed link carries the invitation's id and ``token``, signed with the time it was
    sent; it works once (accepting moves the state on under a row lock) and for
    ``ACCOUNTS_INVITATION_DAYS``. Resending gives a new token, so an older link stops working.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    state = models.CharField(
        max_length=10, choices=InvitationState.choices, default=InvitationState.OPEN
    )
    token = models.CharField(max_length=64)
    invited_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            # One open invitation per address and practice: inviting again is a resend.
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                condition=models.Q(state="open"),
                name="invitation_one_open_per_address",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.tenant}"

    def expires_at(self, days: int) -> datetime:
        return self.sent_at + timedelta(days=days)
