"""Error reports to Sentry (issue 25, item 7), only when SENTRY_DSN is set (config/settings.py
calls init_sentry, so web, the workers and beat all report).

Nothing that could identify a child leaves: no personal data (no user, no client address), no
local variables in the stack frames, no request bodies,
cookies, query strings or headers beyond a harmless few, and every remaining text with numbers
shaped like an identity number masked (core.logging.mask_numbers), as a database error's
message can quote the row it refused. Each event is tagged with the request id (core.logging),
which leads to that request's log lines. Performance tracing is off unless
SENTRY_TRACES_SAMPLE_RATE is above 0.
"""

from __future__ import annotations

from typing import Any

from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from core.logging import current_request_id, mask_numbers

# Request headers an event may keep; the rest (Cookie, Authorization, Referer with its query
# string, X-Forwarded-For, …) are dropped.
KEPT_HEADERS = frozenset({"accept", "content-length", "content-type", "hx-request", "user-agent"})
DROPPED_REQUEST_PARTS = ("data", "cookies", "query_string", "env")


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_numbers(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def scrub_event(event: Event, hint: Hint) -> Event | None:
    """`before_send`: the rules in the module's docstring, applied to every event."""
    request = event.get("request")
    if isinstance(request, dict):
        for part in DROPPED_REQUEST_PARTS:
            request.pop(part, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS
            }
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    scrubbed: Event = _masked(event)
    return scrubbed


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str = "",
    traces_sample_rate: float = 0.0,
    transport: Transport | None = None,
) -> None:
    """Start reporting errors. `transport` is for tests (a capturing one, no network)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        # What integrations collect (sentry-sdk's successor of send_default_pii=False and
        # include_local_variables=False): no user, cookies, query strings, bodies, SQL
        # parameters, queue payloads or local variables; headers only from KEPT_HEADERS.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(KEPT_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "graphql": {"document": False, "variables": False},
            "gen_ai": {"inputs": False, "outputs": False},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        transport=transport,
    )
