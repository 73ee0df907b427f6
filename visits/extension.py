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
