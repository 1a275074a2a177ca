"""Calendar quarters: '2026Q3' <-> dates."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        m = _QUARTER.match(str(text))
        if not m:
            raise ValueError(f"not a quarter: {text!r} (expected YYYYQn, e.g. 2026Q3)")
        year = int(m.group(1))
        if year < 1900:
            raise ValueError(f"not a quarter: {text!r} (year {year} is before 1900)")
        return cls(year, int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        """The quarter a date falls in."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def just_ended(cls, day: dt.date) -> Quarter:
        """The last quarter that ended before `day` (on 2026-04-01: 2026Q1; on 2026-03-31: 2025Q4)."""
        return cls.of(day).previous()

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def kpi_label(self) -> str:
        """How the KPI scorecard names the quarter ('2026-Q1')."""
        return f"{self.year}-Q{self.number}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> dt.date:
        return self.next().start - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def months(self) -> list[dt.date]:
        """First day of each of the quarter's three months."""
        return [dt.date(self.year, 3 * self.number - 2 + i, 1) for i in range(3)]

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def __str__(self) -> str:
        return self.label


def parse_quarter(text: str) -> tuple[dt.date, dt.date]:
    """'2026Q3' -> (2026-07-01, 2026-09-30), both inclusive. ValueError for anything else."""
    q = Quarter.parse(text)
    return q.start, q.end


def quarter_for_run(interval_end: dt.datetime | dt.date | None, logical_date: dt.datetime | dt.date | None = None,
                    override: str | None = None) -> Quarter:
    """The quarter a vigil_quarterly run builds: `override` when given, else the last quarter that
    ended before the run's data interval ends (scheduled at 2026-04-01 06:00 UTC: its interval is
    2026-01-01 06:00 .. 2026-04-01 06:00, so 2026Q1; a manual run on 2026-04-15: also 2026Q1)."""
    if override:
        return Quarter.parse(override)
    when = interval_end or logical_date
    if when is None:
        raise ValueError("a run needs a data interval end or a logical date")
    if isinstance(when, dt.datetime):
        when = when.astimezone(dt.timezone.utc).date() if when.tzinfo else when.date()
    return Quarter.just_ended(when)
