"""Domain exceptions that services raise and the API and pages turn into answers."""

from __future__ import annotations

from typing import Any


class Conflict(Exception):
    """The request is valid but the object's state forbids it (API: 409 {"detail"})."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
