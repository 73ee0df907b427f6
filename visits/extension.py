"""The extension point through which a higher app takes part in saving a visit.

`funding` registers the compensation rules here (in its AppConfig.ready()): `check()` may refuse
a change (a locked month, unless the request marks it as an adjustment) and `after_save()`
recomputes what follows from the visit. `visits` never imports `funding`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from visits.models import Visit


class VisitHook(Protocol):
    def check(self, visit: Visit, adjustment: bool) -> None:
        """Raise ValidationError or core.exceptions.Conflict to refuse the save."""

    def after_save(self, visit: Visit) -> None:
        """Runs in the same transaction, after the visit row is written."""


_hooks: list[VisitHook] = []


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


def run_checks(visit: Visit, *, adjustment: bool) -> None:
    for hook in _hooks:
        hook.check(visit, adjustment)


def run_after_save(visit: Visit) -> None:
    for hook in _hooks:
        hook.after_save(visit)
