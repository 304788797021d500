"""The administrators' part of the agenda: resources and clients, under Settings."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import admin_required, tenant_of
from accounts.validators import validate_name
from agenda import limits
from agenda.models import Client, Resource
from agenda.services import client_create, resource_create


class ResourceForm(forms.Form):
    name = forms.CharField(max_length=120, validators=[validate_name])


class ClientForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[validate_name])
    email = forms.EmailField(required=False, max_length=limits.EMAIL_MAX_LENGTH)
    phone = forms.CharField(max_length=40, required=False)


def _report(request: HttpRequest, errors: ValidationError | forms.Form) -> None:
    """Show a form's or a service's errors as page messages (the forms live on the Settings
    page, which this redirects back to)."""
    if isinstance(errors, forms.Form):
        texts = [str(e) for field_errors in errors.errors.values() for e in field_errors]
    else:
        texts = list(errors.messages)
    for text in texts:
        messages.error(request, text)


def _add(
    request: HttpRequest, form: forms.Form, create: Callable[..., Resource | Client], added: str
) -> HttpResponse:
    """Validate ``form``, create the object for the request's tenant, and report on Settings
    (``added``: the message, translated, with a ``%(name)s``)."""
    if form.is_valid():
        try:
            created = create(tenant=tenant_of(request), **form.cleaned_data)
        except ValidationError as exc:
            _report(request, exc)
        else:
            messages.success(request, added % {"name": created.name})
    else:
        _report(request, form)
    return redirect("settings")


@admin_required
@require_POST
def resource_add(request: HttpRequest) -> HttpResponse:
    return _add(
        request, ResourceForm(request.POST), resource_create, _("Resource “%(name)s” was added.")
    )


@admin_required
@require_POST
def client_add(request: HttpRequest) -> HttpResponse:
    return _add(request, ClientForm(request.POST), client_create, _("Client “%(name)s” was added."))
