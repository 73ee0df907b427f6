"""`Idempotency-Key` for unsafe API requests (API.md, "Idempotency").

A view calls `idempotent()` once it has resolved the object in its path (so a missing one is
still a 404 before the key's 400), handing it the work to do:

    return idempotent(request, lambda: _post_payout(...), required=True)

- No key: the work runs as usual, or, with `required=True` (payouts, month payments,
  repayments), 400 on `Idempotency-Key`. A key longer than 100 characters, or blank: 400.
- Keys are per user and endpoint (the route's name). The request hash covers the concrete path
  and the canonical JSON body, so the same key sent to another grant's payouts is "another
  body" (409), never a replay of the first grant's answer.
- A stored key with the same hash: the stored status and body, and nothing runs. Another hash:
  409 `{"detail"}`.
- Only successes (2xx) are stored. An error changes nothing, so the key is free again: a
  client may retry after a 409 on a closed grant or a 400, and a corrected body may reuse the
  key (no answer was ever given for it).

Two concurrent requests with one key: the first inserts the key row (a placeholder) before the
work, in the same database transaction; the second's insert waits on the unique index until
the first commits, then fails, and the second answers from the stored row. So the work runs
once. (If the first fails, its row goes with its rollback and the second runs the work.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.exceptions import Conflict
from core.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_LENGTH = 100
PENDING = 0  # status of a key whose work is running (never visible after commit)


def idempotency_parameter(*, required: bool) -> OpenApiParameter:
    """The header for `extend_schema(parameters=[...])`."""
    return OpenApiParameter(
        name=HEADER,
        type={"type": "string", "minLength": 1, "maxLength": MAX_LENGTH},
        location=OpenApiParameter.HEADER,
        required=required,
        description=(
            "At most 100 characters, per user and endpoint. A replay with the same body returns "
            "the original status and body and changes nothing; another body → 409."
            + (" Required: missing → 400." if required else "")
        ),
    )


def request_hash(request: Request) -> str:
    canonical = json.dumps(
        {"path": request.path, "body": request.data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _key(request: Request, *, required: bool) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        if required:
            raise ValidationError({HEADER: [_("Ange en Idempotency-Key.")]})
        return None
    key = raw.strip()
    if not key or len(key) > MAX_LENGTH or "\x00" in key:
        raise ValidationError({HEADER: [_("Ange en nyckel på 1 till 100 tecken.")]})
    return key


def _endpoint(request: Request) -> str:
    match = request.resolver_match
    name = (match.view_name or match.route) if match is not None else ""
    return (name or request.path)[:200]


def _replay(stored: IdempotencyKey, digest: str) -> Response:
    if stored.request_hash != digest:
        raise Conflict(_("Nyckeln är redan använd för en annan begäran."))
    response = Response(stored.response_body, status=stored.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def _json(data: Any) -> Any:
    """What the client receives, as JSON values (UUIDs, dates and Decimals as strings)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def idempotent(
    request: Request, run: Callable[[], Response], *, required: bool = False
) -> Response:
    """Run `run()` at most once per (user, endpoint, key); see the module's docstring."""
    key = _key(request, required=required)
    if key is None:
        return run()
    digest = request_hash(request)
    lookup = {"user": request.user, "endpoint": _endpoint(request), "key": key}
    with transaction.atomic():
        stored = IdempotencyKey.objects.filter(**lookup).first()
        if stored is not None:
            return _replay(stored, digest)
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    **lookup, request_hash=digest, status_code=PENDING, response_body={}
                )
        except IntegrityError:
            # A concurrent request with this key committed first (we waited for it).
            return _replay(IdempotencyKey.objects.get(**lookup), digest)
        response = run()
        if 200 <= response.status_code < 300:
            record.status_code = response.status_code
            record.response_body = _json(response.data)
            record.save(update_fields=["status_code", "response_body"])
        else:
            transaction.set_rollback(True)
        return response
