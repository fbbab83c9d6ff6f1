"""Days, ISO weeks and months as the lists use them (the same spellings as Hugging Face's paths)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import BadRequest

# Lists cover years 1900 to 2999: every period has a previous and a next one inside the calendar
# (9999-12-31 has no next day, 0001-W01 no previous week), and no paper is dated outside.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _year(text: str, year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadRequest(f"{text}: lists cover the years {FIRST_YEAR} to {LAST_YEAR}")
    return year


@dataclass(frozen=True)
class Period:
    kind: str      # "date", "week" or "month"
    key: str       # 2026-07-31, 2026-W31, 2026-07
    start: date
    end: date      # inclusive

    @property
    def label(self) -> str:
        if self.kind == "date":
            return self.start.strftime("%A, %B %-d, %Y")
        if self.kind == "week":
            return f"Week {self.start.isocalendar().week}, {self.start:%b %-d} – {self.end:%b %-d, %Y}"
        return self.start.strftime("%B %Y")

    def previous(self) -> "Period":
        return period_containing(self.kind, self.start - timedelta(days=1))

    def next(self) -> "Period":
        return period_containing(self.kind, self.end + timedelta(days=1))


def parse_date(text: str) -> Period:
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text or "")
    if not m:
        raise BadRequest(f"{text!r:.40} is not a date: use YYYY-MM-DD, for example 2026-07-31")
    try:
        day = date(_year(text, int(m.group(1))), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise BadRequest(f"{text} is not a real date ({exc})") from None
    return Period("date", day.isoformat(), day, day)


def parse_week(text: str) -> Period:
    m = re.fullmatch(r"([0-9]{4})-W([0-9]{2})", text or "")
    if not m:
        raise BadRequest(f"{text!r:.40} is not a week: use YYYY-Www, for example 2026-W31")
    year, week = _year(text, int(m.group(1))), int(m.group(2))
    try:
        start = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise BadRequest(f"{text}: {year} has no ISO week {week}") from None
    return Period("week", text, start, start + timedelta(days=6))


def parse_month(text: str) -> Period:
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text or "")
    if not m:
        raise BadRequest(f"{text!r:.40} is not a month: use YYYY-MM, for example 2026-07")
    year, month = _year(text, int(m.group(1))), int(m.group(2))
    if not 1 <= month <= 12:
        raise BadRequest(f"{text}: month must be 01 to 12")
    start = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period("month", text, start, following - timedelta(days=1))


def period_containing(kind: str, day: date) -> Period:
    """The period around ``day``. Not checked against the years lists cover: a neighbour of a
    period at the edge (3000-01-01) exists, it is only never asked for."""
    if kind == "week":
        iso = day.isocalendar()
        start = day - timedelta(days=iso.weekday - 1)
        return Period("week", f"{iso.year}-W{iso.week:02d}", start, start + timedelta(days=6))
    if kind == "month":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return Period("month", f"{day:%Y-%m}", start, following - timedelta(days=1))
    return Period("date", day.isoformat(), day, day)


PARSERS = {"date": parse_date, "week": parse_week, "month": parse_month}
