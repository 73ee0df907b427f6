"""One exception handler: Django's ValidationError → 400 by field, Conflict → 409."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.api.parsers import body_too_large_message
from core.exceptions import Conflict


def validation_error_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(validation_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig):
        # DRF reads the body through Django's request.body, which refuses one longer than
        # DATA_UPLOAD_MAX_MEMORY_SIZE by its Content-Length before reading it (core.api.parsers).
        exc = ValidationError({"non_field_errors": [body_too_large_message()]})
    elif isinstance(exc, ParseError):
        # Every 400 has the same shape (API.md): messages by field; a body that is not JSON at
        # all is an error of the whole object.
        exc = ValidationError({"non_field_errors": [str(exc.detail)]})
    if isinstance(exc, Conflict):
        return Response({"detail": exc.detail, **exc.extra}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
