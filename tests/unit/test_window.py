"""Cutoffs come from as_of only, in calendar years, in UTC."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from retention.policy import load_policy
from retention.runtime import resolve_as_of
from retention.window import RunWindow, parse_as_of, subtract_years

UTC = timezone.utc


def test_calendar_years_like_postgresql_intervals():
    assert subtract_years(datetime(2026, 6, 15, tzinfo=UTC), 5) == datetime(2021, 6, 15, tzinfo=UTC)
    # 29 February minus one year is 28 February, as `timestamptz - interval '1 year'` gives.
    assert subtract_years(datetime(2028, 2, 29, 12, tzinfo=UTC), 1) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert subtract_years(datetime(2028, 2, 29, tzinfo=UTC), 4) == datetime(2024, 2, 29, tzinfo=UTC)


def test_as_of_must_carry_a_time_zone_and_is_normalised_to_utc():
    assert parse_as_of("2026-06-15T02:00:00+02:00") == datetime(2026, 6, 15, tzinfo=UTC)
    assert parse_as_of("2026-06-15T00:00:00Z") == datetime(2026, 6, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        parse_as_of("2026-06-15T00:00:00")
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_as_of("last tuesday")


def test_window_cutoffs_follow_the_policy():
    policy = replace(load_policy(), closed_account_grace_days=7)
    w = RunWindow.build("2026-06-15T00:30:00+02:00", policy)
    assert w.as_of == datetime(2026, 6, 14, 22, 30, tzinfo=UTC)
    assert w.as_of_date.isoformat() == "2026-06-14", "the as_of date is its UTC date"
    assert w.inactive_before == datetime(2021, 6, 14, 22, 30, tzinfo=UTC)
    assert w.closed_on_or_before == datetime(2026, 6, 7, 22, 30, tzinfo=UTC)
    assert w.logs_before == datetime(2025, 6, 14, 22, 30, tzinfo=UTC)
    assert w.prospects_before == datetime(2023, 6, 14, 22, 30, tzinfo=UTC)


def test_as_of_defaults_to_the_data_interval_end_never_the_clock():
    end = datetime(2026, 6, 15, 0, tzinfo=UTC)
    assert resolve_as_of({"as_of": None}, {"data_interval_end": end}) == end
    assert resolve_as_of({"as_of": "2020-01-01T00:00:00+00:00"}, {"data_interval_end": end}) == "2020-01-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="no data interval"):
        resolve_as_of({}, {})
