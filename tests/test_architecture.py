"""Rules of the code's shape that a review would otherwise have to remember (STYLE.md 1, 2, 5).

View modules parse, call one selector or service, and render. Three things follow that a new
view could get wrong without any behaviour test noticing at once, so they are checked here on
the source itself (with `ast`, nothing is imported):

- scoping is never written by hand in a view: `for_user()` QuerySets and the selectors hold it
  (core/scoping.py);
- a child's data is read through `visits.selectors`, which scope *and* write the access log
  (Patientdatalagen; DOMAIN.md 7), never through `<Model>.objects` in a view, and no view
  writes the access log itself;
- dependencies point one way, `core` ← `visits` ← `funding` ← `reporting`: core never imports
  the apps above it at module level (they register with core in `AppConfig.ready()`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "visits", "funding", "reporting")
NOT_VIEWS = {"__init__.py", "urls.py", "permissions.py"}

# Keyword arguments that filter by organisation or centre.
SCOPE_NAMES = ("organisation", "organisation_id", "centre", "centre_id")
SCOPE_CALLS = {"filter", "exclude", "get", "get_object_or_404", "get_list_or_404", "Q"}

# The models of visits/models.py that hold a child's data: the child, its enrolments and visits,
# their history (pghistory) and the access log (a child's id and identity hash).
CHILD_DATA_MODELS = {
    "Child",
    "ChildEvent",
    "Enrolment",
    "EnrolmentEvent",
    "Visit",
    "VisitEvent",
    "AccessLog",
    "VisitImportRow",  # the journal import's rows name a child, its enrolment and visit
}
# Writing the access log is the selectors' and the services' work (visits.access_log).
ACCESS_LOG_WRITERS = {"log_children", "log_without_patient"}


def view_modules(app: str) -> list[Path]:
    base = ROOT / app
    found = {
        *base.glob("views.py"),
        *base.glob("views/*.py"),
        *base.glob("*_views.py"),
        *base.glob("api/*.py"),
    }
    return sorted(
        path for path in found if path.name not in NOT_VIEWS and "serializers" not in path.name
    )


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def is_scope_keyword(name: str) -> bool:
    return (
        name in SCOPE_NAMES
        or name.startswith(tuple(f"{n}__" for n in SCOPE_NAMES))
        or "__organisation" in name
        or "__centre" in name
    )


def hand_written_scoping(path: Path) -> Iterator[str]:
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Call) and called_name(node) in SCOPE_CALLS:
            for keyword in node.keywords:
                if keyword.arg is not None and is_scope_keyword(keyword.arg):
                    yield f"{where(path, node)} {called_name(node)}({keyword.arg}=...)"


def direct_child_reads(path: Path) -> Iterator[str]:
    """`Child.objects...` and the like; `.objects.none()` reads nothing (DRF's placeholder for
    the schema) and is allowed."""
    tree = parse(path)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "none"
            and not node.args
        ):
            allowed.add(id(node.func.value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"objects", "_default_manager", "_base_manager"}
            and isinstance(node.value, ast.Name)
            and node.value.id in CHILD_DATA_MODELS
            and id(node) not in allowed
        ):
            yield f"{where(path, node)} {node.value.id}.{node.attr}"


def hand_written_access_log(path: Path) -> Iterator[str]:
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and node.module == "visits.access_log":
            yield f"{where(path, node)} imports visits.access_log"
        elif isinstance(node, ast.Call) and called_name(node) in ACCESS_LOG_WRITERS:
            yield f"{where(path, node)} {called_name(node)}()"


# The scope's own questions (core.scoping.Scope): asked by selectors, which name the rule
# ("works at several centres", "the child's page is visible"), never by a view.
SCOPE_METHODS = {"centre_ids", "has_role_at", "organisation_ids"}


def scope_questions(path: Path) -> Iterator[str]:
    for node in ast.walk(parse(path)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SCOPE_METHODS
        ):
            yield f"{where(path, node)} .{node.func.attr}()"


def hits(app: str, check: object) -> list[str]:
    assert callable(check)
    return [hit for path in view_modules(app) for hit in check(path)]


def test_the_view_modules_are_found() -> None:
    modules = {str(p.relative_to(ROOT)) for app in APPS for p in view_modules(app)}
    assert {"visits/views.py", "visits/api/views.py", "visits/log_review_views.py"} <= modules
    assert "visits/api/serializers.py" not in modules
    assert "visits/api/urls.py" not in modules


def test_the_scoping_check_sees_each_form_of_filter() -> None:
    source = (
        "Centre.objects.filter(organisation_id__in=x)\n"
        "Visit.objects.exclude(centre=c)\n"
        "get_object_or_404(Grant, pk=1, organisation=o)\n"
        "Q(enrolment__centre_id=c)\n"
        "qs.get(child__organisation=o)\n"
        "qs.filter(centre_name='x', pk=1)\n"  # not a scoping keyword
        "qs.annotate(centre=F('x'))\n"  # not a filtering call
    )
    tree = ast.parse(source)
    found = [
        keyword.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and called_name(node) in SCOPE_CALLS
        for keyword in node.keywords
        if keyword.arg is not None and is_scope_keyword(keyword.arg)
    ]
    assert found == [
        "organisation_id__in",
        "centre",
        "organisation",
        "enrolment__centre_id",
        "child__organisation",
    ]


def test_every_model_holding_child_data_is_listed() -> None:
    """A new model of visits that points at a child, an enrolment or a visit holds child data
    too: it belongs in CHILD_DATA_MODELS."""
    from django.apps import apps

    holding = {"Child", "AccessLog"}
    models = list(apps.get_app_config("visits").get_models())
    while True:
        more = {
            model.__name__
            for model in models
            for field in model._meta.fields
            if field.related_model is not None and field.related_model.__name__ in holding
        }
        if more <= holding:
            break
        holding |= more
    assert holding == CHILD_DATA_MODELS


@pytest.mark.parametrize("app", APPS)
def test_view_modules_do_not_scope_by_hand(app: str) -> None:
    """Scoping lives in `for_user()` QuerySets and selectors (core/scoping.py), never in a
    view: one place decides who sees what."""
    assert hits(app, hand_written_scoping) == []


@pytest.mark.parametrize("app", APPS)
def test_view_modules_ask_the_scope_only_through_selectors(app: str) -> None:
    """Which centres' children a user sees, whether she holds a role at a centre: selectors
    (visits.selectors, funding.selectors) answer, so the rule has one home."""
    assert hits(app, scope_questions) == []


def test_the_scope_question_check_sees_a_method_call() -> None:
    tree = "def view(user):\n    return user.scope.centre_ids('nurse')\n"
    path = ROOT / "tests" / "_scope_probe.py"
    path.write_text(tree, encoding="utf-8")
    try:
        assert [hit.split()[-1] for hit in scope_questions(path)] == [".centre_ids()"]
    finally:
        path.unlink()


@pytest.mark.parametrize("app", APPS)
def test_view_modules_read_child_data_only_through_visits_selectors(app: str) -> None:
    """A view that reads a child model itself could forget the access log; the selectors in
    visits/selectors.py scope and log in one call."""
    assert hits(app, direct_child_reads) == []


@pytest.mark.parametrize("app", APPS)
def test_view_modules_do_not_write_the_access_log_by_hand(app: str) -> None:
    """Reads are logged by the selectors, writes by the services: a view has no access-log
    call of its own to forget."""
    assert hits(app, hand_written_access_log) == []


def module_level_imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str]]:
    """Imports that run when the module is imported (not those under `if TYPE_CHECKING:` or
    inside functions)."""

    def walk(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, str]]:
        for stmt in body:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    yield stmt, alias.name
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                yield stmt, stmt.module
            elif isinstance(stmt, ast.If):
                test = stmt.test
                type_checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
                )
                if not type_checking:
                    yield from walk(stmt.body)
                yield from walk(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                yield from walk(stmt.body)
                for handler in stmt.handlers:
                    yield from walk(handler.body)
                yield from walk(stmt.orelse)
                yield from walk(stmt.finalbody)

    yield from walk(tree.body)


def test_core_never_imports_the_apps_above_it_at_module_level() -> None:
    upper = ("visits", "funding", "reporting")
    found = [
        f"{where(path, stmt)} imports {name}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        if "migrations" not in path.parts
        for stmt, name in module_level_imports(parse(path))
        if name.split(".")[0] in upper
    ]
    assert found == []
