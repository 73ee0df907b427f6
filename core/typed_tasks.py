"""Celery's task decorator with a type. Celery ships no type information, so `@shared_task(...)`
turns every task into `Any` for mypy (strict refuses an untyped decorator). `task` and
`bound_task` return the very decorator `shared_task` builds; only its static type is spelled
out: the task is called, `.delay`ed and `.apply`d with the function's own arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from celery import shared_task

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class TaskResult(Protocol):
    """What the code reads of an AsyncResult or EagerResult."""

    @property
    def id(self) -> str: ...

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any: ...


class Task(Protocol[P, R_co]):
    """A Celery task made from a function taking `P` and returning `R_co`."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult: ...

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> TaskResult: ...

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> TaskResult: ...


def task(**options: Any) -> Callable[[Callable[P, R]], Task[P, R]]:
    """`@shared_task(**options)`."""
    return cast("Callable[[Callable[P, R]], Task[P, R]]", shared_task(**options))


def bound_task(**options: Any) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]:
    """`@shared_task(bind=True, **options)`: the function's first argument is the task itself
    (its `request`, `retry`, `max_retries`), which callers do not pass."""
    return cast(
        "Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]",
        shared_task(bind=True, **options),
    )
