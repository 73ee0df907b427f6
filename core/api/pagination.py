from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination for every collection: `?page_size=` from 1 up to 200.

    A view names its order in `cursor_ordering` (unique or nearly unique fields, as DRF asks).
    A `page_size` that is not a whole number is a 400 on that field; above 200 it is capped.
    A forged cursor (a position the ordering field cannot parse, or one with a NUL byte, which
    PostgreSQL refuses in text) is an invalid cursor, answered as DRF answers one: 404.
    DRF filters on the first ordering field and pages ties with an offset; that works on
    annotations too (the worklist's `due_from`).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering: Any = ("-id",)

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if len(request.query_params.getlist(self.page_size_query_param)) > 1:
            raise ValidationError({self.page_size_query_param: ["Ange page_size en gång."]})
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError(
                {self.page_size_query_param: ["Ange ett heltal från 1 till 200."]}
            )
        return min(size, self.max_page_size)

    def decode_cursor(self, request: Any) -> Any:
        cursor = super().decode_cursor(request)
        position: Any = cursor.position if cursor is not None else None
        if isinstance(position, str) and "\x00" in position:
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError:
            raise NotFound(self.invalid_cursor_message) from None

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = getattr(view, "cursor_ordering", None)
        if ordering:
            return tuple(ordering)
        return tuple(super().get_ordering(request, queryset, view))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
