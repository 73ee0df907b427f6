"""Calendar helpers shared by the apps."""

from __future__ import annotations

import datetime


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same calendar day `years` later (earlier when negative); 29 February becomes the
    28th in a year without one."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# Calendar years the API and the pages accept in a query or a body: what a date can hold and
# PostgreSQL's integer columns take, so a year out of range is a 400, never a database error.
MIN_YEAR = 1900
MAX_YEAR = 2100  # programme years; keeps date arithmetic (year + 1) in range


def year_bounds(year: int) -> tuple[datetime.date, datetime.date]:
    """The first and the last day of a calendar year."""
    return datetime.date(year, 1, 1), datetime.date(year, 12, 31)
