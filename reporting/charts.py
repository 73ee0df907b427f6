"""Charts for the PDF reports, drawn server-side as SVG (no script, no external resources).

A chart draws only what the tables show, as `reporting.suppression` decided it (DOMAIN.md 5.1: a
hidden count stays hidden, in a chart too): an exact count as a bar to scale; a count of 1–4 as
a hatched band of one fixed height (the height of 5: "somewhere under 5"), labelled "<5",
whatever the count; a count withheld so that another cannot be worked out as an "x" without a
bar. The scale's top is a round number from the exact counts only, so it never tells a small
or withheld peak. Readable without colour: the series differ in fill and outline, the bands are
hatched and labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape  # escapes the SVG we write, parses nothing # nosec B406

from reporting.suppression import SMALL, SMALL_TEXT, WITHHELD_TEXT, MonthShown, Shown, State

MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
WITH_COLOUR = "#0b5c8a"
WITHOUT_COLOUR = "#9cc3db"
INK = "#222"
SERIES = {
    "with": ("Med socialtjänsten (ZV509)", WITH_COLOUR),
    "without": ("Utan socialtjänsten", WITHOUT_COLOUR),
}


def scale_top(peak: int) -> int:
    """The top of the scale: the largest exact count rounded up to a multiple of 5, at least 10
    (so a "<5" band stays under half the height)."""
    return max(2 * SMALL, -(-peak // SMALL) * SMALL)


def bar_heights(values: Sequence[int], full: float, top: int | None = None) -> list[float]:
    """Each value's bar height on a scale where `top` (default: the largest value) is `full`."""
    top = max(values, default=0) if top is None else top
    if top <= 0:
        return [0.0 for _ in values]
    return [round(full * v / top, 2) for v in values]


def _hatch(series: str, colour: str) -> str:
    return (
        f'<pattern id="hembesok-band-{series}" patternUnits="userSpaceOnUse" width="5" '
        'height="5" patternTransform="rotate(45)">'
        '<rect width="5" height="5" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="5" stroke="{colour}" stroke-width="2.5"/></pattern>'
    )


def _bar(series: str, month: int, shown: Shown, x: float, w: float, base: float, per: float) -> str:
    """One month's bar of one series; `per` is the height of one visit."""
    colour = SERIES[series][1]
    attrs = f'data-series="{series}" data-month="{month}"'
    outline = f'stroke="{INK}" stroke-width="0.6"' if series == "without" else 'stroke="none"'
    if shown.state is State.EXACT:
        h = round((shown.exact or 0) * per, 2)
        return (
            f'<rect class="bar" {attrs} data-count="{shown.exact}" x="{x:.2f}" '
            f'y="{base - h:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{colour}" {outline}/>'
        )
    if shown.state is State.SMALL:
        h = round(SMALL * per, 2)
        return (
            f'<rect class="bar band" {attrs} data-count="{escape(SMALL_TEXT)}" x="{x:.2f}" '
            f'y="{base - h:.2f}" width="{w:.2f}" height="{h:.2f}" '
            f'fill="url(#hembesok-band-{series})" stroke="{INK}" stroke-width="0.6" '
            'stroke-dasharray="2 1.5"/>\n'
            f'<text x="{x + w / 2:.2f}" y="{base - h - 2:.2f}" font-size="7" '
            f'text-anchor="middle">{escape(SMALL_TEXT)}</text>'
        )
    return (
        f'<text class="withheld" {attrs} data-count="{WITHHELD_TEXT}" x="{x + w / 2:.2f}" '
        f'y="{base - 3:.2f}" font-size="9" text-anchor="middle">{WITHHELD_TEXT}</text>'
    )


def visits_per_month_svg(months: Sequence[MonthShown], *, title: str) -> str:
    """Completed home visits per month, with and without social services (grouped bars), as
    decided by `reporting.suppression`. Each bar carries what it shows in `data-count` (the
    count, "<5" or "x"), so what is drawn can be checked against the tables."""
    width, height = 640, 280
    left, bottom, top = 40, 58, 20
    base = height - bottom
    plot_h = base - top
    group = (width - left - 10) / 12
    bar = group * 0.36
    cells = [(m, "with", m.with_social_services) for m in months] + [
        (m, "without", m.without_social_services) for m in months
    ]
    peak = max((s.exact or 0 for _m, _s, s in cells if s.state is State.EXACT), default=0)
    small = any(s.state is State.SMALL for _m, _s, s in cells)
    # A series whose year total is under 5 is not broken down by month (suppression, rule 2).
    omitted = {
        series: bool(months)
        and all(s.state is State.OMITTED for _m, name, s in cells if name == series)
        for series in SERIES
    }
    withheld = any(s.withheld for _m, name, s in cells if not omitted[name])
    scaled = peak > 0 or small
    axis_top = scale_top(peak)
    per = plot_h / axis_top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        "<desc>Stapeldiagram: antal genomförda hembesök per månad; mörka staplar med "
        "socialtjänsten (ZV509), ljusa med kant utan. Antal mellan 1 och 4 ritas som ett "
        "streckat fält med samma höjd, märkt &lt;5; x: visas inte, så att ett litet antal inte "
        "kan räknas fram.</desc>",
        f"<defs>{_hatch('with', WITH_COLOUR)}{_hatch('without', WITHOUT_COLOUR)}</defs>",
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#444" '
        'stroke-width="1"/>',
    ]
    if scaled:
        parts += [
            f'<text class="axis-top" x="{left - 6}" y="{top + 4}" font-size="10" '
            f'text-anchor="end">{axis_top}</text>',
            f'<text x="{left - 6}" y="{base}" font-size="10" text-anchor="end">0</text>',
        ]
    else:
        message = (
            "Inga hembesök"
            if all(s.state is State.EXACT for _m, _s, s in cells)
            else "För få hembesök för att visas per månad"
        )
        parts.append(
            f'<text class="empty" x="{(left + width - 10) / 2:.2f}" y="{top + plot_h / 2:.2f}" '
            f'font-size="12" text-anchor="middle">{message}</text>'
        )
    for i, month in enumerate(months):
        x = left + i * group + group * 0.12
        if scaled or withheld:
            for series, shown, bx in (
                ("with", month.with_social_services, x),
                ("without", month.without_social_services, x + bar),
            ):
                if not omitted[series]:
                    parts.append(_bar(series, month.month, shown, bx, bar, base, per))
        label_x = left + i * group + group / 2
        parts.append(
            f'<text x="{label_x:.2f}" y="{base + 14}" font-size="10" '
            f'text-anchor="middle">{MONTHS[month.month - 1]}</text>'
        )
    parts += _legend(left, height, small=small, withheld=withheld, omitted=omitted)
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(
    left: int, height: int, *, small: bool, withheld: bool, omitted: dict[str, bool]
) -> list[str]:
    y1, y2 = height - 26, height - 9
    parts: list[str] = []
    x = left
    for series, (label, colour) in SERIES.items():
        outline = f' stroke="{INK}" stroke-width="0.6"' if series == "without" else ""
        parts += [
            f'<rect x="{x}" y="{y1 - 9}" width="10" height="10" fill="{colour}"{outline}/>',
            f'<text x="{x + 14}" y="{y1}" font-size="10">{label}</text>',
        ]
        x += 190
    if small:
        parts += [
            f'<rect x="{x}" y="{y1 - 9}" width="10" height="10" fill="url(#hembesok-band-with)" '
            f'stroke="{INK}" stroke-width="0.6" stroke-dasharray="2 1.5"/>',
            f'<text x="{x + 14}" y="{y1}" font-size="10">{escape(SMALL_TEXT)}: 1–4 besök '
            "(samma höjd)</text>",
        ]
    notes = []
    if withheld:
        notes.append(f"{WITHHELD_TEXT}: visas inte, så att ett litet antal inte kan räknas fram")
    notes += [
        f"{SERIES[series][0]}: färre än {SMALL} under året, visas inte per månad"
        for series, gone in omitted.items()
        if gone
    ]
    if notes:
        parts.append(f'<text x="{left}" y="{y2}" font-size="9">{escape(". ".join(notes))}.</text>')
    return parts
