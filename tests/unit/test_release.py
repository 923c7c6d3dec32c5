"""The release's privacy arithmetic: contribution bounds bound into the scrub, calibration within budget."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from retention import release
from retention.policy import load_policy

REPO = Path(__file__).resolve().parents[2]


def test_every_bound_the_scrub_uses_is_the_one_the_sensitivity_assumes():
    used = set()
    for path in (REPO / "sql" / "accounts").glob("aggregate_release_*.sql"):
        used |= set(re.findall(r":(release_[a-z_]+)", path.read_text(encoding="utf-8")))
    assert used == set(release.scrub_params()), "a bound of the SQL is not bound from retention.release (or unused)"
    scrub = (REPO / "sql" / "accounts" / "scrub_batch.sql").read_text(encoding="utf-8")
    for source in {t.source for t in release.RELEASED_TABLES} - {"anonymised_cohorts", "experience_profiles"}:
        assert f"{{aggregate_{source}}}" in scrub and f"cells_{source}" in scrub, source


def test_sensitivities_follow_the_bounds():
    keys = {"feature": ["a", "b", "c", "other"]}
    by_name = {t.name: t for t in release.RELEASED_TABLES}
    assert by_name["members_by_reason_age_band"].sensitivity(keys) == 1
    assert by_name["members_by_language_level"].sensitivity(keys) == pytest.approx(math.sqrt(release.LANGUAGES_PER_MEMBER))
    assert by_name["applicants_by_project"].sensitivity(keys) == pytest.approx(math.sqrt(release.PROJECTS_PER_MEMBER))
    assert by_name["members_by_feature"].sensitivity(keys) == pytest.approx(2.0)
    assert by_name["events_by_feature"].sensitivity(keys) == pytest.approx(release.EVENTS_PER_FEATURE * 2.0)
    with pytest.raises(ValueError, match="no contribution bound"):
        replace(by_name["members_by_reason"], source="anonymised_mystery").sensitivity(keys)


def test_a_release_spends_at_most_the_policys_budget():
    policy = load_policy()
    keys = {"feature": [f"f{i}" for i in range(14)]}
    share = policy.release_rho_per_month / len(release.RELEASED_TABLES)
    spent = [release.calibrate(t.sensitivity(keys), share) for t in release.RELEASED_TABLES]
    assert sum(n.rho for n in spent) <= policy.release_rho_per_month * (1 + 1e-9)
    assert sum(n.rho for n in spent) >= 0.99 * policy.release_rho_per_month, "the budget is used, not wasted"
    one, three = release.calibrate(1.0, share), release.calibrate(3.0, share)
    assert three.scale == pytest.approx(3 * one.scale, rel=1e-3) and three.error95 > one.error95 > 0


def test_noise_is_opendps_and_refuses_to_overspend():
    noise = release.calibrate(1.0, 0.05)
    values = [100] * 2000
    noisy = release.add_noise(values, 1.0, noise)
    assert all(isinstance(v, int) for v in noisy) and noisy != values
    outside = sum(abs(v - 100) > noise.error95 for v in noisy) / len(noisy)
    assert outside < 0.08, "the 95 % bound holds about 95 times in 100"
    with pytest.raises(RuntimeError, match="more than calibrated"):
        release.add_noise(values, 2.0, noise)  # a table whose people move it more than it was calibrated for


def test_rho_stated_as_epsilon_and_delta():
    eps = release.epsilon_of(0.5, 1e-7)
    assert 3.0 < eps <= 0.5 + 2 * math.sqrt(0.5 * math.log(1e7)) + 1e-9  # at most the classic conversion
    assert release.epsilon_of(0.1, 1e-7) < eps


def test_months_are_utc_months_of_the_as_of_instant():
    paris = timezone(timedelta(hours=2))
    assert release.month_of(datetime(2026, 6, 1, 1, 0, tzinfo=paris)) == date(2026, 5, 1)
    assert release.next_month(date(2026, 12, 1)) == date(2027, 1, 1)


def test_views_and_exact_queries_cover_every_table():
    names = [t.name for t in release.RELEASED_TABLES]
    assert len(names) == len(set(names))
    for t in release.RELEASED_TABLES:
        assert f"published.\"{t.name}\"" in release.view_sql(t)
        assert f"\"{t.label}_error95\"" in release.view_sql(t)
        sql = release.exact_sql(t)
        assert "left join" in sql and sql.count("unnest(") == len(t.dims), "every key cell, zero or not"
    assert sum(len(t.dims) == 2 for t in release.RELEASED_TABLES) >= 8
