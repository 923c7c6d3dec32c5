"""Attacks on the monthly releases, on data the real DAG anonymised on real PostgreSQL.

* The repeated-release game: the same month with and without one target member (the pipeline run
  on both), released many times with fresh noise from the release's own OpenDP measurements; the
  strongest attacker (who knows every other person's data) tells the two apart no better than the
  budget allows. The same game with a budget 100 times larger is won: the game can fail.
* A linear-programming reconstruction audit (scipy's HiGHS) over every released demographic table:
  the 4-dimension cells (reason x age band x region x education) behind them are not pinned to a
  value, whereas the same tables published exactly pin cells (the attack that recovered every
  hidden cell of the k-suppressed views).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from dagrun import run_dag
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

MAY_10 = "2026-05-10T00:00:00+00:00"
JUNE_2 = "2026-06-02T00:00:00+00:00"


def exact_month(app, wh, month):
    """Per released table: (sensitivity, exact values over the key set, their keys), read as the release reads them."""
    from retention.release import RELEASED_TABLES, exact_rows, key_sets, next_month

    keys = key_sets(app, next_month(month))
    tables = {}
    with wh.connect() as conn:
        for t in RELEASED_TABLES:
            rows = exact_rows(conn, t, month, keys)
            tables[t.name] = (t.sensitivity(keys), np.array([r.value for r in rows]), [(r.key1, r.key2) for r in rows])
    return tables


def play(without, with_target, rho_per_month: float, trials: int, seed: int) -> tuple[float, float]:
    """(attacker's success rate, what Gaussian DP predicts for this target): coin flip, a release of the
    world it picked with the release's own noise, the attacker's likelihood-ratio guess."""
    from retention.release import RELEASED_TABLES, add_noise, calibrate
    from scipy.stats import norm

    noise = {name: calibrate(sens, rho_per_month / len(RELEASED_TABLES)) for name, (sens, _, _) in without.items()}
    # The target's actual privacy loss (<= the budget: they do not reach every bound of every table).
    mu = math.sqrt(sum(float(np.sum((with_target[n][1] - without[n][1]) ** 2)) / noise[n].scale ** 2 for n in without))
    coins = np.random.default_rng(seed).integers(0, 2, size=trials)
    wins = 0
    for coin in coins:
        llr = 0.0
        for name, (sens, a, _) in without.items():
            b = with_target[name][1]
            y = np.array(add_noise((b if coin else a).tolist(), sens, noise[name]))
            # The discrete Gaussian's mass is proportional to exp(-(y - mean)^2 / (2 scale^2)).
            llr += float(np.sum((y - a) ** 2 - (y - b) ** 2)) / (2 * noise[name].scale ** 2)
        wins += int((llr > 0) == bool(coin))
    return wins / trials, float(norm.cdf(mu / 2))


def reconstruct(released: dict, bounds: dict, cells: list[tuple], dims: dict, sample: list[int]) -> list[float]:
    """Width of the range each sampled 4-dimension cell can take, given the released tables within their bounds."""
    from retention.release import RELEASED_TABLES
    from scipy.optimize import linprog
    from scipy.sparse import lil_matrix

    grid = np.array(cells, dtype=object)
    rows, lo, hi = [], [], []
    for t in RELEASED_TABLES:
        if t.source != "anonymised_cohorts":
            continue
        names = [d.name for d in t.dims]
        for (k1, k2), value in released[t.name].items():
            want = dict(zip(names, (k1, k2)[:len(names)], strict=True))
            mask = np.ones(len(cells), dtype=bool)
            for n, v in want.items():
                mask &= grid[:, dims[n]] == v
            rows.append(np.flatnonzero(mask).tolist())
            lo.append(value - bounds[t.name])
            hi.append(value + bounds[t.name])
    a = lil_matrix((2 * len(rows), len(cells)))
    for r, members in enumerate(rows):
        for i in members:
            a[r, i] = 1
            a[len(rows) + r, i] = -1
    b = np.array(hi + [-v for v in lo], dtype=float)
    a = a.tocsr()
    widths = []
    for i in sample:
        c = np.zeros(len(cells))
        c[i] = 1
        low = linprog(c, A_ub=a, b_ub=b, bounds=(0, None), method="highs")
        high = linprog(-c, A_ub=a, b_ub=b, bounds=(0, None), method="highs")
        assert low.status == 0 and high.status == 0, (low.message, high.message)
        widths.append(-high.fun - low.fun)
    return widths


def test_repeated_release_game_and_reconstruction_audit(databases, tmp_path):
    from datetime import date

    from retention.db import make_engine
    from retention.policy import load_policy
    from retention.release import AGE_BANDS, REASONS, key_sets
    from retention.synthetic import generate

    p = make_platform(databases)
    generate(p.app_url, accounts=600, seed=11, as_of=MAY_10, documents_dir=tmp_path, progress=False)
    app, wh = make_engine(p.pipeline_app_url), make_engine(p.pipeline_warehouse_url)
    may = date(2026, 5, 1)
    try:
        # The target: a live member with languages, activity and applications, who has not left.
        target = p.scalar(
            "select a.id from app.accounts as a where a.closed_at is null and a.deceased_reported_at is null "
            "and a.legal_hold_until is null and a.last_login_at > '2025-01-01' "
            "and exists (select from app.languages as l where l.account_id = a.id) "
            "and exists (select from app.activity_events as e where e.account_id = a.id) "
            "and exists (select from app.applications as x where x.account_id = a.id) order by a.id limit 1")
        assert target is not None
        assert run_dag(p, as_of=MAY_10).state == "success"
        without = exact_month(app, wh, may)
        with p.app() as c:  # the target closes her account; the same night, rerun, anonymises her alone
            c.execute("update app.accounts set closed_at = '2026-05-09T12:00:00+00:00' where id = %s", (target,))
        assert run_dag(p, as_of=MAY_10).state == "success"
        with_target = exact_month(app, wh, may)
        moved = {n for n in without if not np.array_equal(without[n][1], with_target[n][1])}
        assert {"members_by_reason", "members_by_reason_age_band", "members_by_feature",
                "members_by_language_level", "applicants_by_project"} <= moved, moved

        rho = load_policy().release_rho_per_month
        success, predicted = play(without, with_target, rho, trials=300, seed=1)
        bound = 0.5 + 0.5 * math.erf(math.sqrt(2 * rho) / 2 / math.sqrt(2))  # Phi(sqrt(2 rho) / 2): any target
        slack = 3 * math.sqrt(0.25 / 300)
        assert predicted <= bound + 1e-9
        assert success <= bound + slack, f"attacker won {success:.0%}; the budget allows {bound:.0%}"
        assert abs(success - predicted) <= slack, (success, predicted)
        strong, _ = play(without, with_target, rho * 100, trials=100, seed=2)
        print(f"game: attacker won {success:.1%} (Gaussian DP predicts {predicted:.1%} for this target, "
              f"at most {bound:.1%} for anyone); with 100x the budget {strong:.0%}")
        assert strong >= 0.95, f"with 100x the budget the attacker should win; won {strong:.0%}"

        # Release May through the pipeline, then audit the stored release by linear programming.
        assert run_dag(p, as_of=JUNE_2).state == "success"
        keys = key_sets(app, date(2026, 6, 1))
        dims = {"reason": 0, "age_band": 1, "region": 2, "education_level": 3}
        cells = [(r, a, g, e) for r in REASONS for a in AGE_BANDS for g in keys["region"] for e in keys["education_level"]]
        truth = {tuple(row[:4]): row[4] for row in p.rows(
            "select reason, age_band, region, education_level, members from stats.anonymised_cohorts "
            "where anonymised_month = '2026-05-01'", db="wh")}
        released, exact, scale = {}, {}, {}
        for table, key1, key2, value in p.rows(
                "select table_name, key1, key2, value from published.released_cells "
                "where release_month = '2026-05-01'", db="wh"):
            released.setdefault(table, {})[(key1, key2)] = value
        for table, noise_scale in p.rows("select table_name, noise_scale from published.privacy_ledger", db="wh"):
            scale[table] = noise_scale
        for t, (_, values, cell_keys) in with_target.items():
            exact[t] = dict(zip(cell_keys, values.tolist(), strict=True))
        import opendp.prelude as dp

        # An attacker who wants certainty takes the bound that holds but once in a million draws.
        certain = {t: dp.discrete_gaussian_scale_to_accuracy(s, 1e-6) for t, s in scale.items()}
        occupied = [i for i, c in enumerate(cells) if truth.get(c, 0) > 0]
        rng = np.random.default_rng(3)
        sample = sorted(set(occupied[:20]) | set(rng.choice(len(cells), 20, replace=False).tolist()))
        noisy = reconstruct(released, certain, cells, dims, sample)
        published_exactly = reconstruct(exact, {t: 0 for t in exact}, cells, dims, sample)
        print(f"LP audit over {len(sample)} cells: narrowest range {min(noisy):.1f} members from the release, "
              f"{sum(w < 1 for w in published_exactly)} pinned if the tables were exact")
        assert min(noisy) >= 1, f"{sum(w < 1 for w in noisy)} cell(s) pinned by the released tables"
        assert sum(w < 1 for w in published_exactly) >= len(sample) // 2, "the audit must catch exact tables"
    finally:
        app.dispose()
        wh.dispose()
        databases.drop_all()
