"""Helpers every API view shares: the caller, the role check of API.md's 403 step, and input
validation that answers in API.md's error shape `{"field": ["message", ...]}`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from core.models import User
from core.scoping import scope_of


def api_user(request: Request) -> User:
    # Every caller is behind IsAuthenticated (which runs first).
    return cast(User, request.user)


def has_role(request: Request, *roles: str) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and scope_of(user).has_role(*roles))


def messages(detail: Any, prefix: str = "") -> list[str]:
    """DRF's nested error detail as flat messages; a nested field's messages name it
    (`mode: Detta fält är obligatoriskt.`)."""
    if isinstance(detail, dict):
        return [
            message
            for key, value in detail.items()
            for message in messages(
                value, f"{key}: " if isinstance(key, str) and key != "non_field_errors" else ""
            )
        ]
    if isinstance(detail, list):
        return [message for value in detail for message in messages(value, prefix)]
    return [f"{prefix}{detail}"]


def field_errors(errors: Any) -> dict[str, list[str]]:
    """DRF's errors, flattened to API.md's shape: nested serializers (`interpreter`) and list
    items (`kva_codes`, `planned_slots`) answer on the field itself."""
    if isinstance(errors, dict):
        return {str(field): messages(value) for field, value in errors.items()}
    return {"non_field_errors": messages(errors)}


def validated(
    serializer_class: type[serializers.Serializer[Any]], data: Any, *, partial: bool = False
) -> dict[str, Any]:
    """The input, or a 400 in API.md's shape."""
    serializer = serializer_class(data=data, partial=partial)
    if not serializer.is_valid():
        raise ValidationError(field_errors(serializer.errors))
    return dict(serializer.validated_data)


def reject_empty(request: Request, names: Iterable[str]) -> None:
    """A query parameter sent without a value is a 400 on it: the API's queries say what they
    mean (the pages share the FilterSets, and their forms send empty selects as "any")."""
    errors = {
        name: [_("Ange ett värde eller utelämna parametern.")]
        for name in names
        if name in request.query_params and not request.query_params[name].strip()
    }
    if errors:
        raise ValidationError(errors)
