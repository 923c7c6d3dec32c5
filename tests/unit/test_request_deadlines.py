"""Deadlines of data-subject requests: one calendar month in Paris, extended only when recorded in time."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from retention.requests.deadlines import Deadline, add_months, deadline


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_31_january_is_due_on_the_last_day_of_february():
    assert deadline(utc("2026-01-31T10:00:00")).due_on == date(2026, 2, 28)


def test_leap_year_gives_29_february():
    assert deadline(utc("2028-01-31T10:00:00")).due_on == date(2028, 2, 29)
    assert deadline(utc("2028-01-29T10:00:00")).due_on == date(2028, 2, 29)


def test_same_day_of_next_month_and_across_the_year():
    assert deadline(utc("2026-03-15T10:00:00")).due_on == date(2026, 4, 15)
    assert deadline(utc("2026-12-31T10:00:00")).due_on == date(2027, 1, 31)


def test_days_are_counted_in_paris():
    # 23:30 UTC on 31 January is already 1 February in Paris: due on 1 March, not 28 February.
    assert deadline(utc("2026-01-31T23:30:00")).due_on == date(2026, 3, 1)
    # 22:30 UTC on 30 June is 1 July 00:30 in Paris (summer time, UTC+2).
    assert deadline(utc("2026-06-30T22:30:00")).due_on == date(2026, 8, 1)


def test_extension_recorded_within_the_first_month_adds_two_months():
    d = deadline(utc("2026-01-31T10:00:00"), utc("2026-02-20T09:00:00"), "complex: 40 years of documents")
    assert d == Deadline(date(2026, 4, 30), extended=True)


def test_extension_on_the_due_date_itself_still_counts():
    d = deadline(utc("2026-01-31T10:00:00"), utc("2026-02-28T21:00:00"), "number of requests")
    assert d.extended and d.due_on == date(2026, 4, 30)


def test_extension_recorded_too_late_does_not_move_the_date():
    d = deadline(utc("2026-01-31T10:00:00"), utc("2026-03-01T09:00:00"), "complex")
    assert d == Deadline(date(2026, 2, 28), extended=False)


def test_extension_without_a_reason_does_not_count():
    assert not deadline(utc("2026-01-31T10:00:00"), utc("2026-02-01T09:00:00"), "  ").extended


def test_alert_seven_days_before_and_when_overdue():
    d = deadline(utc("2026-01-31T10:00:00"))  # due 28 February
    assert d.alert(utc("2026-02-20T12:00:00")) is None
    assert d.alert(utc("2026-02-21T12:00:00")) == "due_soon"
    assert d.days_left(utc("2026-02-21T12:00:00")) == 7
    assert d.alert(utc("2026-02-28T23:30:00")) == "overdue"  # 00:30 on 1 March in Paris
    assert d.alert(utc("2026-02-28T12:00:00")) == "due_soon"


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        deadline(datetime(2026, 1, 31))


def test_add_months_clamps_to_the_month_end():
    assert add_months(date(2026, 8, 31), 1) == date(2026, 9, 30)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
