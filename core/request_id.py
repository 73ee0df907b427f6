"""A request id on every request (issue 25, item 7): each log line of the request carries it
(core.logging), tasks it queues take it along (config.celery), and the response echoes it in
`X-Request-ID`, so a user's report ("it failed at 10:14") leads to the lines of that request.

The reverse proxy may send its own id in `X-Request-ID` (then its access log and ours match);
it is taken only if it is a plain token, as it is written into every log line. Anything else,
or none, gets a new random id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from core.logging import REQUEST_ID, REQUEST_ID_META

HEADER = "X-Request-ID"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id_from(request: HttpRequest) -> str:
    """The proxy's id when it is a safe token, else a new one."""
    given = request.headers.get(HEADER, "")
    if SAFE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every other middleware's lines carry the id too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_from(request)
        request.META[REQUEST_ID_META] = request_id
        token = REQUEST_ID.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        response[HEADER] = request_id
        return response
