"""The extension points through which a higher app takes part in what visits does.

`funding` registers the compensation rules here (in its AppConfig.ready()): `check()` may refuse
a change (a locked month, unless the request marks it as an adjustment) and `after_save()`
recomputes what follows from the visit. `reporting` registers the PDF of the patient's log
extract (a report run). `visits` never imports `funding` or `reporting`.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from rest_framework.request import Request

    from core.models import User
    from visits.models import Visit


class VisitHook(Protocol):
    def check(self, visit: Visit, adjustment: bool) -> None:
        """Raise ValidationError or core.exceptions.Conflict to refuse the save."""

    def after_save(self, visit: Visit) -> None:
        """Runs in the same transaction, after the visit row is written."""


_hooks: list[VisitHook] = []
T = TypeVar("T")


class VisitDescriber(Protocol):
    """What a higher app adds to how a visit is shown (funding: its `compensation`)."""

    field: str
    # Relations to join when visits are listed, so describing a page costs no query per row.
    select_related: tuple[str, ...]

    def describe(self, visit: Visit) -> object: ...


_describers: dict[str, VisitDescriber] = {}


def register_visit_describer(describer: VisitDescriber) -> None:
    _describers[describer.field] = describer


def describe_visit(visit: Visit, field: str, default: object = None) -> object:
    describer = _describers.get(field)
    return describer.describe(visit) if describer is not None else default


def describer_select_related() -> list[str]:
    return [name for d in _describers.values() for name in d.select_related]


def register_visit_hook(hook: VisitHook) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


def unregister_visit_hook(hook: VisitHook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


# --- Many visits at once ---------------------------------------------------------------------
# The journal import checks (preview) or saves (commit) thousands of visits in a row. Within
# `many_visits()`, the lookups that cannot change meanwhile are computed once per key: a centre's
# organisation, the KVÅ codes valid on a day, and (funding) a month's paid state, which the shared
# month lock taken at the first check keeps from changing until the transaction ends. Outside
# the block `memo()` simply computes: a single typed visit reads what is stored now.
_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("visits_memo", default=None)


@contextmanager
def many_visits() -> Iterator[None]:
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def memo(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, remembered under `key` for the rest of the `many_visits()` block."""
    cache = _memo.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cast(T, cache[key])


def run_checks(visit: Visit, *, adjustment: bool) -> None:
    for hook in _hooks:
        hook.check(visit, adjustment)


def run_after_save(visit: Visit) -> None:
    for hook in _hooks:
        hook.after_save(visit)


# --- The patient's log extract as a PDF ------------------------------------------------------
# `reporting` renders it as a report run and registers itself here (in its AppConfig.ready());
# `visits.log_review` decides who may ask, finds the child and logs the access, and hands over
# an order that holds no identity number.
@dataclass(frozen=True)
class ExtractOrder:
    organisation_id: uuid.UUID  # whose log the extract is of (the reviewer's organisation)
    identity_hash: str  # visits.identity.identity_hash of the typed identity
    child_id: uuid.UUID | None  # the child's record, when there is one
    child_masked: str
    start: datetime.date | None
    end: datetime.date | None
    as_of: datetime.datetime  # the rows up to this moment (the request's own log row is after)


class LogExtractPdf(Protocol):
    def order(self, *, user: User, order: ExtractOrder) -> uuid.UUID:
        """Queue the PDF in the caller's transaction (its task after commit, with the run's id
        only) and return the run's id."""

    def page_url(self, run_id: uuid.UUID) -> str:
        """The page that shows the run's state and its download."""

    def api_body(self, request: Request, run_id: uuid.UUID) -> dict[str, Any]:
        """The run as the API shows report runs (API.md "Reports")."""


_log_extract_pdf: list[LogExtractPdf] = []


def register_log_extract_pdf(pdf: LogExtractPdf) -> None:
    _log_extract_pdf[:] = [pdf]


def log_extract_pdf() -> LogExtractPdf:
    if not _log_extract_pdf:
        raise ImproperlyConfigured("No app renders the log extract as a PDF (reporting does).")
    return _log_extract_pdf[0]
