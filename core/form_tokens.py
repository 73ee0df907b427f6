"""One-time form tokens for pages that move money (payouts, month payments, repayments,
allocations, close): the page's counterpart of the API's `Idempotency-Key`
(core/api/idempotency.py), kept in the same table, `IdempotencyKey`.

The form carries a hidden `token` (a uuid4 made when the form is shown). On POST the view hands
`once()` the token and the work; the work posts and returns the URL to redirect to.

- The first POST with a token runs the work and stores `{"redirect": url}` under
  (user, "page:<url name>", token).
- Any later POST with that token (a double click, back and resubmit, a reload) runs nothing
  and gets the stored URL: `Done.replayed` is true, and `Done.same_form` says whether it sent
  the same fields (else the user changed the form after sending it; still nothing is posted).
- Work that raises (a form error, a conflict) stores nothing: its transaction, the key row
  included, is rolled back, so the corrected form may be sent with the same token.

Two concurrent POSTs with one token: the first inserts the key row before the work, in the
same database transaction; the second's insert waits on the unique index until the first
commits, then fails, and the second answers from the stored row. So the work runs once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core.models import IdempotencyKey, User

FIELD = "token"
PREFIX = "page:"
PENDING = 0  # a key whose work is running (never visible after commit)
DONE = 303  # a stored page result is a redirect ("See Other")
# Fields that say nothing about what the form asked for.
IGNORED = frozenset({"csrfmiddlewaretoken", FIELD})


def new_token() -> str:
    return str(uuid.uuid4())


class TokenField(forms.UUIDField):
    """The hidden one-time token. Missing or not a UUID: an error on the form as a whole."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _lazy("Formulärets engångsnyckel"))
        kwargs.setdefault(
            "error_messages",
            {
                "required": _lazy("Formuläret saknar sin engångsnyckel. Ladda om sidan."),
                "invalid": _lazy("Formulärets engångsnyckel är ogiltig. Ladda om sidan."),
            },
        )
        super().__init__(**kwargs)


class TokenFormMixin(forms.Form):
    """Adds the hidden `token`, with a fresh value whenever the form is shown unbound."""

    token = TokenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault(FIELD, new_token())


@dataclass(frozen=True)
class Done:
    redirect: str
    replayed: bool
    same_form: bool = True


def form_hash(data: Mapping[str, Any]) -> str:
    """The form's fields (all values of each), without the CSRF token and the token itself."""
    getlist = getattr(data, "getlist", None)
    fields = {
        name: (list(getlist(name)) if getlist is not None else data[name])
        for name in sorted(data)
        if name not in IGNORED
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _stored(record: IdempotencyKey, digest: str) -> Done:
    return Done(
        redirect=str(record.response_body.get("redirect", "")),
        replayed=True,
        same_form=record.request_hash == digest,
    )


def once(
    *,
    user: User,
    endpoint: str,
    token: uuid.UUID | str,
    data: Mapping[str, Any],
    work: Callable[[], str],
) -> Done:
    """Run `work()` at most once per (user, endpoint, token); see the module's docstring.
    `endpoint` is the page's URL name; exceptions from `work()` propagate and store nothing."""
    digest = form_hash(data)
    lookup = {"user": user, "endpoint": f"{PREFIX}{endpoint}"[:200], "key": str(token)}
    with transaction.atomic():
        stored = IdempotencyKey.objects.filter(**lookup).first()
        if stored is not None:
            return _stored(stored, digest)
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    **lookup, request_hash=digest, status_code=PENDING, response_body={}
                )
        except IntegrityError:
            # A concurrent POST with this token committed first (we waited for it).
            return _stored(IdempotencyKey.objects.get(**lookup), digest)
        url = work()
        record.status_code = DONE
        record.response_body = {"redirect": url}
        record.save(update_fields=["status_code", "response_body"])
    return Done(redirect=url, replayed=False)


def replay_message(done: Done) -> str:
    """What the user reads after a replay: nothing was posted a second time."""
    if done.same_form:
        return _("Formuläret var redan skickat. Inget bokfördes en gång till; här är resultatet.")
    return _(
        "Formuläret var redan skickat, och ändringarna efteråt bokfördes inte. "
        "Öppna formuläret på nytt för att göra en ny registrering."
    )
