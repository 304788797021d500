"""Tenant-scoped access: the few functions every view uses to reach a tenant's data.

The rule: a view never calls ``Model.objects.get(pk=...)`` on tenant data. It calls
``get_object_for_tenant`` (or filters with ``for_tenant``), so an id of another tenant is
indistinguishable from an id that does not exist: 404, never 403, never the object.
Roles are enforced with the decorators below; a wrong role is a 403 (the page exists, but not
for you), and the tests check both for every view.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant, User

M = TypeVar("M", bound=Model)
P = ParamSpec("P")
View = Callable[Concatenate[HttpRequest, P], HttpResponse]


def tenant_of(request: HttpRequest) -> Tenant:
    """The tenant of the logged-in user; 404 for users outside any tenant (operators)."""
    user = request.user
    if not isinstance(user, User) or user.tenant is None:
        raise Http404("No practice.")
    return user.tenant


def for_tenant(queryset: QuerySet[M], tenant: Tenant) -> QuerySet[M]:
    """``queryset`` restricted to ``tenant`` (every tenant-owned model has a ``tenant`` field)."""
    return queryset.filter(tenant=tenant)


def get_object_for_tenant(queryset: QuerySet[M], request: HttpRequest, **lookup: Any) -> M:
    """The object of the request's tenant matching ``lookup``, or 404."""
    return get_object_or_404(for_tenant(queryset, tenant_of(request)), **lookup)


def _role_required(
    check: Callable[[User], bool], what: str | Promise
) -> Callable[[View[P]], View[P]]:
    def decorator(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            user = request.user
            if not isinstance(user, User) or not check(user):
                raise PermissionDenied(what)
            return view(request, *args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]  # same signature

    return decorator


# The reasons 403.html shows: lazy, so they are read in the language of the refused request.
staff_required = _role_required(lambda u: u.is_practice_staff, _("Only staff have a calendar."))
admin_required = _role_required(
    lambda u: u.is_practice_admin, _("Only administrators may do this.")
)
member_required = _role_required(lambda u: u.tenant_id is not None, _("Only practice members."))


def current_user(request: HttpRequest) -> User:
    """``request.user`` typed as our ``User`` (views behind the decorators above only)."""
    user = request.user
    assert isinstance(user, User)
    return user
