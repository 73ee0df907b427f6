"""Charts for the PDF reports, drawn server-side as SVG (no script, no external resources)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from reporting.selectors import MonthCount, shown

MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
WITH_COLOUR = "#0b5c8a"
WITHOUT_COLOUR = "#9cc3db"


def bar_heights(values: Sequence[int], full: float) -> list[float]:
    """Each value's bar height on a scale where the largest value is `full` units."""
    top = max(values, default=0)
    if top <= 0:
        return [0.0 for _ in values]
    return [round(full * v / top, 2) for v in values]


def visits_per_month_svg(months: Sequence[MonthCount], *, title: str) -> str:
    """Completed home visits per month, with and without social services (grouped bars). Each
    bar carries its count in `data-count`, so what is drawn can be checked against the data."""
    width, height = 640, 260
    left, bottom, top = 40, 40, 20
    plot_h = height - bottom - top
    group = (width - left - 10) / 12
    bar = group * 0.36
    values = [m.with_social_services for m in months] + [m.without_social_services for m in months]
    heights = bar_heights(values, plot_h)
    peak = max(values, default=0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        "<desc>Stapeldiagram: antal genomförda hembesök per månad, mörka staplar med "
        "socialtjänsten (ZV509), ljusa utan.</desc>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#444" stroke-width="1"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="10" text-anchor="end">{shown(peak)}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" font-size="10" text-anchor="end">0</text>',
    ]
    for i, month in enumerate(months):
        x = left + i * group + group * 0.12
        pairs = (
            ("with", month.with_social_services, heights[i], WITH_COLOUR, x),
            ("without", month.without_social_services, heights[12 + i], WITHOUT_COLOUR, x + bar),
        )
        for series, count, h, colour, bx in pairs:
            parts.append(
                f'<rect class="bar" data-series="{series}" data-month="{month.month}" '
                f'data-count="{count}" x="{bx:.2f}" y="{height - bottom - h:.2f}" '
                f'width="{bar:.2f}" height="{h:.2f}" fill="{colour}"/>'
            )
        label_x = left + i * group + group / 2
        parts.append(
            f'<text x="{label_x:.2f}" y="{height - bottom + 14}" font-size="10" '
            f'text-anchor="middle">{MONTHS[month.month - 1]}</text>'
        )
    legend_y = height - 8
    parts += [
        f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{WITH_COLOUR}"/>',
        f'<text x="{left + 14}" y="{legend_y}" font-size="10">Med socialtjänsten (ZV509)</text>',
        f'<rect x="{left + 200}" y="{legend_y - 9}" width="10" height="10" '
        f'fill="{WITHOUT_COLOUR}"/>',
        f'<text x="{left + 214}" y="{legend_y}" font-size="10">Utan socialtjänsten</text>',
        "</svg>",
    ]
    return "\n".join(parts)
