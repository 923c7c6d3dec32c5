"""When a data-subject request is due (GDPR art. 12(3)), in calendar days of Europe/Paris.

One calendar month after receipt: the same day of the next month, or that month's last day when it
has no such day (31 January -> 28 or 29 February; Regulation 1182/71, art. 3(2)(c)). Extendable by up
to two further months (three months after receipt, same rule) only when the extension's reason was
recorded within the first month; one recorded later does not move the date. Alerts go out from
``ALERT_DAYS_BEFORE`` days before the due date, and every day once overdue.

``sql/requests/*.sql`` computes the same date in PostgreSQL (``date + interval 'N months'``, which
clamps to the month's end too); tests/integration/test_subject_requests_dag.py proves them equal.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("Europe/Paris")
FIRST_PERIOD_MONTHS = 1
MAX_EXTENSION_MONTHS = 2
ALERT_DAYS_BEFORE = 7


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the last day of the target month."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(instant: datetime) -> date:
    """The calendar day in Paris of an aware instant (a naive one is refused: it is ambiguous)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a request's instants must carry a time zone")
    return instant.astimezone(TIMEZONE).date()


@dataclass(frozen=True)
class Deadline:
    due_on: date
    extended: bool

    def days_left(self, as_of: datetime) -> int:
        """Days from the as-of instant's Paris day to the due date (negative once overdue)."""
        return (self.due_on - local_day(as_of)).days

    def alert(self, as_of: datetime) -> str | None:
        """``"overdue"``, ``"due_soon"`` (within ``ALERT_DAYS_BEFORE`` days) or None."""
        left = self.days_left(as_of)
        if left < 0:
            return "overdue"
        if left <= ALERT_DAYS_BEFORE:
            return "due_soon"
        return None


def deadline(received_at: datetime, extended_at: datetime | None = None,
             extension_reason: str | None = None) -> Deadline:
    """The request's due date; an extension counts only with a reason recorded by the first due date."""
    received = local_day(received_at)
    first_due = add_months(received, FIRST_PERIOD_MONTHS)
    if extended_at is not None and (extension_reason or "").strip() and local_day(extended_at) <= first_due:
        return Deadline(add_months(received, FIRST_PERIOD_MONTHS + MAX_EXTENSION_MONTHS), extended=True)
    return Deadline(first_due, extended=False)
