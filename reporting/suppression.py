"""Small numbers in the reports: what a count may be shown as (DOMAIN.md 5 and 5.1; API.md, the
programme dashboard: counts of 1–4 are "<5", "and no other figure lets one work them out").

Pure Python, no Django: the PDFs, their charts and the dashboard decide the same way.

A `Table` holds named counts and the sums between them (`Group`: a total and its parts; a row/
column table is a group per row, per column and for the margins). `decide` says how each count
is shown:

1. Primary: 1–4 is "<5" (`State.SMALL`), 0 stays 0, 5 or more is exact.
2. A total of 1–4 is not broken down into two or more shown parts: they are "x", zeros included
   (`State.OMITTED`). Four "<5" under a "<5" could only be 1 each, and a shown 0 would tell
   which parts are not.
3. Secondary: while some count of 1–4 can still be worked out from what is shown (an "<5" among
   exact parts of an exact total: "21 (11 / 7 / <5)"; or bounds that leave one value: "6 (5 /
   <5)" with the 5 hidden), one more count of 5 or more in the same sum is shown as "x"
   (`State.HIDDEN`): the smallest whose hiding protects it, parts before their total ("21 (11 /
   x / <5)"; "x (5 / <5)"). When its own sums hold none, the search widens to the sums next to
   them. Repeated until nothing can be worked out, so row/column tables settle too.

What a reader can work out is computed as a reader would, knowing these rules: every exact
figure; "<5" as 1–4; an "x" of rule 3 as 5 or more (it is never 1–4, which would be "<5"); an "x"
of rule 2, and a remainder that is never shown (`Table.implicit`, e.g. visits not at home), as 0
or more; a remainder whose parts rule 2 withheld as 1–4; and the sums. Bounds are narrowed
through the sums until stable, which is exact when the sums form a tree, as the reports' do; when
they form cycles (rows and columns) a bounded search looks for a second possible value. The
property test checks both against brute force. Deterministic: ties go by the table's order. A
reader who also knows which "x" the rule would pick first (the smallest) learns a little more
about that "x"; that is not modelled.

A remainder that is never shown is not itself protected: "83 visits, of which 81 at home" shows
2 elsewhere by subtraction, as the reports always have (it is no figure of the report).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the shape of the selectors' data; this module imports no Django
    from reporting.selectors import Activity, MonthCount

SMALL = 5  # counts of 1–4 are shown as "<5" (DOMAIN.md 5)
SMALL_TEXT = f"<{SMALL}"
WITHHELD_TEXT = "x"
NO_SHARE = "–"
_INF = math.inf
_MAX_ROUNDS = 10_000  # bounds only narrow; a safety stop, never reached by a report's tables
_SEARCH_BUDGET = 20_000  # steps of the search in a table with cycles, per count checked


class State(enum.Enum):
    EXACT = "exact"
    SMALL = "small"  # 1–4, "<5"
    HIDDEN = "hidden"  # 5 or more, withheld so that a small count cannot be worked out: "x"
    OMITTED = "omitted"  # a part of a total of 1–4 (any value): "x"


@dataclass(frozen=True)
class Shown:
    """A count as it may be shown. Only an exact count carries its number."""

    state: State
    exact: int | None = None

    @property
    def text(self) -> str:
        if self.state is State.EXACT:
            return str(self.exact)
        return SMALL_TEXT if self.state is State.SMALL else WITHHELD_TEXT

    @property
    def withheld(self) -> bool:
        return self.state in (State.HIDDEN, State.OMITTED)

    def __str__(self) -> str:
        return self.text


def primary(n: int) -> Shown:
    """A count on its own (no total or parts shown with it): 1–4 → "<5", 0 stays 0."""
    if n < 0:
        raise ValueError("a count cannot be negative")
    return Shown(State.SMALL) if 0 < n < SMALL else Shown(State.EXACT, n)


def percent(part: int, whole: int) -> str:
    """A share in per cent with one decimal, Swedish style ("37,5 %"); "–" without a whole, or
    when either count is under 5 (3 out of 3 would reveal the hidden count)."""
    if whole == 0 or 0 < part < SMALL or whole < SMALL:
        return NO_SHARE
    return f"{Decimal(part * 100) / Decimal(whole):.1f}".replace(".", ",") + " %"


def share(part: Shown, whole: Shown) -> str:
    """A share of two counts as decided: only of two exact ones (a share and one count would
    give the other back)."""
    if part.exact is None or whole.exact is None:
        return NO_SHARE
    return percent(part.exact, whole.exact)


# --- Tables and the rule ------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    """`total` = sum of `parts`, as the report's reader can see it."""

    total: str
    parts: tuple[str, ...]

    @property
    def cells(self) -> tuple[str, ...]:
        return (self.total, *self.parts)


@dataclass(frozen=True)
class Table:
    """Counts by name (in the order the report shows them: ties are broken by it), the sums
    between them, and `implicit`: counts never shown that complete a sum (a remainder)."""

    counts: Mapping[str, int]
    groups: Sequence[Group] = ()
    implicit: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        named = [*self.implicit, *(key for group in self.groups for key in group.cells)]
        unknown = sorted(set(named) - set(self.counts))
        if unknown:
            raise ValueError(f"unknown counts: {unknown}")
        for key, n in self.counts.items():
            if n < 0:
                raise ValueError(f"{key}: a count cannot be negative")
        for group in self.groups:
            if len(set(group.cells)) != len(group.cells):
                raise ValueError(f"{group.total}: a count appears twice in one sum")
            parts = sum(self.counts[p] for p in group.parts)
            if parts != self.counts[group.total]:
                raise ValueError(
                    f"{group.total} is {self.counts[group.total]}, its parts add up to {parts}"
                )


Bounds = dict[str, tuple[float, float]]
_DOMAIN: dict[State, tuple[float, float]] = {
    State.SMALL: (1, SMALL - 1),
    State.HIDDEN: (SMALL, _INF),
    State.OMITTED: (0, _INF),
}


def decide(table: Table) -> dict[str, Shown]:
    """How each count that is shown (every count but the implicit ones) may be shown."""
    counts = table.counts
    states = {
        key: (State.SMALL if 0 < n < SMALL else State.EXACT)
        for key, n in counts.items()
        if key not in table.implicit
    }
    withheld_under = _omit_parts_of_small_totals(table, states)
    for _step in range(len(states) + 1):
        target = _first_worked_out(table, states, withheld_under)
        if target is None:
            break
        key, state = _one_more(table, states, withheld_under, target)
        states[key] = state
    else:  # each step withholds one more count, so this cannot run out
        raise AssertionError("secondary suppression did not settle")
    return {
        key: Shown(state, counts[key] if state is State.EXACT else None)
        for key, state in states.items()
    }


def texts(table: Table) -> dict[str, str]:
    """`decide`, as the strings a report prints."""
    return {key: shown.text for key, shown in decide(table).items()}


def _omit_parts_of_small_totals(table: Table, states: dict[str, State]) -> set[str]:
    """Rule 2; returns the implicit totals it applied to (a reader then knows them as 1–4)."""
    implicit_totals: set[str] = set()
    for group in table.groups:
        shown_parts = [p for p in group.parts if p not in table.implicit]
        if 0 < table.counts[group.total] < SMALL and len(shown_parts) >= 2:
            for part in shown_parts:
                states[part] = State.OMITTED
            if group.total in table.implicit:
                implicit_totals.add(group.total)
    return implicit_totals


def _sensitive(table: Table, key: str) -> bool:
    return key not in table.implicit and 0 < table.counts[key] < SMALL


def _bounds(table: Table, states: Mapping[str, State], small_implicit: set[str]) -> Bounds:
    """What a reader can tell of each count: [low, high], narrowed through every sum until
    stable (the "shuttle" of interval bounds)."""
    bounds: Bounds = {}
    for key, n in table.counts.items():
        if key in table.implicit:
            bounds[key] = (1, SMALL - 1) if key in small_implicit else (0, _INF)
        elif states[key] is State.EXACT:
            bounds[key] = (n, n)
        else:
            bounds[key] = _DOMAIN[states[key]]
    if not _narrow_all(table, bounds):
        raise AssertionError("the true counts do not fit what is shown")
    return bounds


def _narrow_all(table: Table, bounds: Bounds) -> bool:
    """Narrow `bounds` in place until stable; False when no counts fit them."""
    for _round in range(_MAX_ROUNDS):
        changed = False
        for group in table.groups:
            changed |= _narrow(bounds, group)
            if any(bounds[key][0] > bounds[key][1] for key in group.cells):
                return False
        if not changed:
            break
    return True


def _narrow(bounds: Bounds, group: Group) -> bool:
    changed = False
    parts = group.parts
    low = sum(bounds[p][0] for p in parts)
    high = sum(bounds[p][1] for p in parts)
    t_low, t_high = bounds[group.total]
    new = (max(t_low, low), min(t_high, high))
    if new != (t_low, t_high):
        bounds[group.total], changed = new, True
    t_low, t_high = new
    for part in parts:
        others_low = sum(bounds[p][0] for p in parts if p != part)
        others_high = sum(bounds[p][1] for p in parts if p != part)
        p_low, p_high = bounds[part]
        new = (max(p_low, t_low - others_high), min(p_high, t_high - others_low))
        if new != (p_low, p_high):
            bounds[part], changed = new, True
    return changed


def _acyclic(table: Table) -> bool:
    """Whether the sums form a tree (no cycle of counts and sums, as rows and columns make):
    then the narrowed bounds are exactly what a reader can tell."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.get(node, node) != node:
            node = parent[node]
        return node

    for i, group in enumerate(table.groups):
        for key in group.cells:
            a, b = root(f"group:{i}"), root(f"count:{key}")
            if a == b:
                return False
            parent[a] = b
    return True


def _single_value(table: Table, bounds: Bounds, key: str) -> bool:
    """Whether a reader can tell `key`'s count. With cycles, narrowed bounds may still hold
    values no solution takes: then a search for another value, within a cap (counts past it
    are not tried, which can only hide more)."""
    low, high = bounds[key]
    if low == high:
        return True
    if _acyclic(table):
        return False
    cap = 2 * max(table.counts.values(), default=0) + 2 * SMALL
    capped = {k: (lo, min(hi, cap)) for k, (lo, hi) in bounds.items()}
    budget = [_SEARCH_BUDGET]
    n = table.counts[key]
    for value in range(int(low), int(min(high, cap)) + 1):
        if value != n and _solvable(table, {**capped, key: (value, value)}, budget):
            return False
    return True


def _solvable(table: Table, bounds: Bounds, budget: list[int]) -> bool:
    """Branch and narrow: whether whole counts within `bounds` satisfy every sum. Out of budget
    counts as no (the count is then treated as one a reader can tell, and more is hidden)."""
    budget[0] -= 1
    if budget[0] < 0 or not _narrow_all(table, bounds):
        return False
    open_ = [k for k, (lo, hi) in bounds.items() if lo < hi]
    if not open_:
        return True
    key = min(open_, key=lambda k: bounds[k][1] - bounds[k][0])
    low, high = bounds[key]
    return any(
        _solvable(table, {**bounds, key: (v, v)}, budget) for v in range(int(low), int(high) + 1)
    )


def _first_worked_out(
    table: Table, states: Mapping[str, State], small_implicit: set[str]
) -> str | None:
    bounds = _bounds(table, states, small_implicit)
    for key in states:
        if _sensitive(table, key) and _single_value(table, bounds, key):
            return key
    return None


def _worked_out(
    table: Table, states: Mapping[str, State], small_implicit: set[str], key: str
) -> bool:
    return _single_value(table, _bounds(table, states, small_implicit), key)


def _one_more(
    table: Table, states: dict[str, State], small_implicit: set[str], target: str
) -> tuple[str, State]:
    """Rule 3: the count to withhold next so that `target` cannot be worked out. Candidates are
    the exact counts of 5 or more, ring by ring outwards from `target`'s own sums, smallest first
    and parts before totals. The first whose hiding alone protects `target` is taken; when none
    does (a row/column table needs a rectangle), the first of the nearest ring, and again."""
    rings = _candidate_rings(table, states, target)
    for ring in rings:
        for key in ring:
            if not _worked_out(table, {**states, key: State.HIDDEN}, small_implicit, target):
                return key, State.HIDDEN
    if rings:
        return rings[0][0], State.HIDDEN
    # Nothing of 5 or more left near it: withhold what else its own sums show.
    for group in table.groups:
        if target in group.cells:
            for key in group.cells:
                if key != target and states.get(key) in (State.EXACT, State.SMALL):
                    return key, State.OMITTED
    raise AssertionError(f"{target} cannot be protected")  # every sum with it is withheld


def _candidate_rings(table: Table, states: Mapping[str, State], target: str) -> list[list[str]]:
    order = {key: i for i, key in enumerate(table.counts)}
    seen_groups: set[int] = set()
    seen = {target}
    near = {target}
    rings: list[list[str]] = []
    while True:
        ring = [
            i
            for i, group in enumerate(table.groups)
            if i not in seen_groups and near.intersection(group.cells)
        ]
        if not ring:
            return rings
        seen_groups.update(ring)
        groups = [table.groups[i] for i in ring]
        near = {key for group in groups for key in group.cells} - seen
        seen |= near
        totals = {group.total for group in groups}
        candidates = sorted(
            (key for key in near if states.get(key) is State.EXACT and table.counts[key] >= SMALL),
            key=lambda key: (table.counts[key], key in totals, order[key]),
        )
        if candidates:
            rings.append(candidates)


# --- The reports' reach and activity ------------------------------------------------------------
@dataclass(frozen=True)
class MonthShown:
    month: int  # 1–12
    with_social_services: Shown
    without_social_services: Shown


@dataclass(frozen=True)
class ActivityShown:
    """`reporting.selectors.Activity` as a report may show it: every count decided here."""

    year: int
    offered: Shown
    accepted: Shown
    children_enrolled: Shown
    completed_visits: Shown
    home_visits: Shown
    home_with_social_services: Shown  # home visits coded ZV509
    social_services_share: str  # of the home visits
    with_social_services: Shown  # every completed visit with social services, at any place
    interpreter_visits: Shown
    interpreter_by_mode: str  # "(11 / x / <5)", "" when the total is not broken down
    with_dental: Shown
    with_preschool: Shown
    with_maternal_health: Shown
    contacts_started: dict[str, Shown]
    per_slot: list[tuple[str, Shown]]  # (label, visits)
    extra_visits: Shown
    per_month: list[MonthShown]
    centres: list[str]
    withheld: bool  # some count is "x": the report says why


MODES = ("in_person", "phone", "video")


def _month_cells(per_month: Sequence[MonthCount]) -> tuple[dict[str, int], list[Group]]:
    """Home visits per month with and without social services, summing to the year's home
    visits with ZV509 ("home_ss", shown) and without (a remainder)."""
    counts: dict[str, int] = {}
    for month in per_month:
        counts[f"month:{month.month}:with"] = month.with_social_services
        counts[f"month:{month.month}:without"] = month.without_social_services
    groups = [
        Group("home_ss", tuple(f"month:{m.month}:with" for m in per_month)),
        Group("home_without_ss", tuple(f"month:{m.month}:without" for m in per_month)),
    ]
    return counts, groups


def _months(per_month: Sequence[MonthCount], shown: Mapping[str, Shown]) -> list[MonthShown]:
    return [
        MonthShown(
            month=m.month,
            with_social_services=shown[f"month:{m.month}:with"],
            without_social_services=shown[f"month:{m.month}:without"],
        )
        for m in per_month
    ]


def months_shown(per_month: Sequence[MonthCount]) -> list[MonthShown]:
    """Visits per month on their own, with the year's totals shown beside them (as a report
    shows home visits and those with social services): for a chart outside a report."""
    with_ss = sum(m.with_social_services for m in per_month)
    without_ss = sum(m.without_social_services for m in per_month)
    cells, groups = _month_cells(per_month)
    table = Table(
        counts={
            "home": with_ss + without_ss,
            "home_ss": with_ss,
            **cells,
            "home_without_ss": without_ss,
        },
        groups=[Group("home", ("home_ss", "home_without_ss")), *groups],
        implicit=frozenset({"home_without_ss"}),
    )
    return _months(per_month, decide(table))


def activity_table(activity: Activity) -> Table:
    """Every count of the reach and activity section, with the sums a reader can form:
    completed visits = home + elsewhere = per slot + extra; home visits = with ZV509 + without
    = per month; visits with social services = at home (ZV509) + elsewhere; interpreter visits
    = by mode."""
    slots = [f"slot:{slot.key}" for slot in activity.per_slot]
    month_cells, month_groups = _month_cells(activity.per_month)
    counts: dict[str, int] = {
        "offered": activity.offered,
        "accepted": activity.accepted,
        "children_enrolled": activity.children_enrolled,
        "completed": activity.completed_visits,
        "home": activity.home_visits,
        "home_ss": activity.home_with_social_services,
        "interpreter": activity.interpreter_visits,
        **{f"interpreter:{mode}": activity.interpreter_by_mode[mode] for mode in MODES},
        **{key: slot.visits for key, slot in zip(slots, activity.per_slot, strict=True)},
        "extra": activity.extra_visits,
        **month_cells,
        "with_ss": activity.with_social_services,
        "dental": activity.with_dental,
        "preschool": activity.with_preschool,
        "maternal_health": activity.with_maternal_health,
        **{f"contact:{k}": n for k, n in activity.contacts_started.items()},
        # Never shown: the remainders that complete the sums.
        "completed_not_home": activity.completed_visits - activity.home_visits,
        "home_without_ss": activity.home_visits - activity.home_with_social_services,
        "with_ss_not_home": activity.with_social_services - activity.home_with_social_services,
    }
    return Table(
        counts=counts,
        groups=[
            Group("completed", ("home", "completed_not_home")),
            Group("home", ("home_ss", "home_without_ss")),
            Group("interpreter", tuple(f"interpreter:{mode}" for mode in MODES)),
            Group("completed", (*slots, "extra")),
            *month_groups,
            Group("with_ss", ("home_ss", "with_ss_not_home")),
        ],
        implicit=frozenset({"completed_not_home", "home_without_ss", "with_ss_not_home"}),
    )


def present_activity(activity: Activity) -> ActivityShown:
    shown = decide(activity_table(activity))
    modes = [shown[f"interpreter:{mode}"] for mode in MODES]
    broken_down = not all(m.state is State.OMITTED for m in modes)
    return ActivityShown(
        year=activity.year,
        offered=shown["offered"],
        accepted=shown["accepted"],
        children_enrolled=shown["children_enrolled"],
        completed_visits=shown["completed"],
        home_visits=shown["home"],
        home_with_social_services=shown["home_ss"],
        social_services_share=share(shown["home_ss"], shown["home"]),
        with_social_services=shown["with_ss"],
        interpreter_visits=shown["interpreter"],
        interpreter_by_mode=f"({' / '.join(m.text for m in modes)})" if broken_down else "",
        with_dental=shown["dental"],
        with_preschool=shown["preschool"],
        with_maternal_health=shown["maternal_health"],
        contacts_started={k: shown[f"contact:{k}"] for k in activity.contacts_started},
        per_slot=[(slot.label, shown[f"slot:{slot.key}"]) for slot in activity.per_slot],
        extra_visits=shown["extra"],
        per_month=_months(activity.per_month, shown),
        centres=list(activity.centres),
        withheld=any(s.withheld for s in shown.values()),
    )
