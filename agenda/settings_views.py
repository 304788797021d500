"""The administrators' part of the agenda: resources and clients, under Settings."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.access import admin_required, tenant_of
from agenda.services import client_create, resource_create


class ResourceForm(forms.Form):
    name = forms.CharField(max_length=120)


class ClientForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=40, required=False)


def _report(request: HttpRequest, errors: dict[str, list[str]] | list[str]) -> None:
    items = errors.values() if isinstance(errors, dict) else [errors]
    for messages_ in items:
        for message in messages_:
            messages.error(request, str(message))


@admin_required
@require_POST
def resource_add(request: HttpRequest) -> HttpResponse:
    form = ResourceForm(request.POST)
    if form.is_valid():
        try:
            resource = resource_create(tenant=tenant_of(request), **form.cleaned_data)
        except ValidationError as exc:
            _report(request, exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        else:
            messages.success(request, f"Resource “{resource.name}” was added.")
    else:
        _report(request, {k: list(v) for k, v in form.errors.items()})
    return redirect("settings")


@admin_required
@require_POST
def client_add(request: HttpRequest) -> HttpResponse:
    form = ClientForm(request.POST)
    if form.is_valid():
        try:
            client = client_create(tenant=tenant_of(request), **form.cleaned_data)
        except ValidationError as exc:
            _report(request, exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        else:
            messages.success(request, f"Client “{client.name}” was added.")
    else:
        _report(request, {k: list(v) for k, v in form.errors.items()})
    return redirect("settings")
