"""Utility of the monthly differentially private release: how close the released values are to the truth.

Per size: synthetic data (bench_pipeline's templates), one real DAG run (as of 2026-06-15: the
accounts anonymised that night are June's), then June's release drawn ``--draws`` times with the
release's own code (``retention.release``: the exact cells over the key sets, OpenDP's discrete
Gaussian calibrated to the policy's budget), compared with the exact cells:

* MAE: mean absolute error per cell;
* within 20 %: share of the members (of the events, for events_by_feature) who are in cells whose
  released value is within +-20 % of the true value (member-weighted; empty cells weigh nothing);
* needed: members a cell needs for its value to be within +-20 % 95 times in 100 (5 x error95).

    .venv/bin/python bench/bench_release_utility.py --sizes 1000000,10000 --draws 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO / "bench"))

from bench_pipeline import AS_OF, OUT, Databases, build_template, clone, run_dag, say, url  # noqa: E402

JUNE = date(2026, 6, 1)


def measure(app_url: str, wh_url: str, draws: int) -> dict:
    import numpy as np
    from retention.db import make_engine
    from retention.policy import load_policy
    from retention.release import RELEASED_TABLES, add_noise, calibrate, exact_rows, key_sets, next_month

    policy = load_policy()
    app, wh = make_engine(app_url), make_engine(wh_url)
    try:
        keys = key_sets(app, next_month(JUNE))
        tables = {}
        with wh.connect() as conn:
            for t in RELEASED_TABLES:
                truth = np.array([r.value for r in exact_rows(conn, t, JUNE, keys)], dtype=float)
                sens = t.sensitivity(keys)
                noise = calibrate(sens, policy.release_rho_per_month / len(RELEASED_TABLES))
                mae, within = [], []
                for _ in range(draws):
                    noisy = np.array(add_noise(truth.astype(int).tolist(), sens, noise), dtype=float)
                    err = np.abs(noisy - truth)
                    mae.append(float(err.mean()))
                    ok = err <= 0.2 * truth
                    within.append(float(truth[ok].sum() / truth.sum()) if truth.sum() else float("nan"))
                tables[t.name] = {"cells": int(truth.size), "dims": len(t.dims), "total": int(truth.sum()),
                                  "error95": noise.error95, "mae": float(np.mean(mae)),
                                  "within20": float(np.mean(within)), "needed": 5 * noise.error95}
        with wh.connect() as conn:
            from sqlalchemy import text

            members = conn.execute(text("select coalesce(sum(members), 0) from stats.anonymised_cohorts "
                                        "where anonymised_month = :m"), {"m": JUNE}).scalar_one()
    finally:
        app.dispose()
        wh.dispose()
    return {"members": int(members), "rho": policy.release_rho_per_month, "draws": draws, "tables": tables}


def print_table(size: int, result: dict) -> None:
    print(f"\n{size:,} accounts: {result['members']:,} anonymised in June; rho {result['rho']} per release, "
          f"{result['draws']} draws")
    print(f"{'table':<42}{'cells':>7}{'total':>10}{'±95%':>7}{'MAE':>8}{'within 20%':>12}{'needed':>8}")
    for name, t in result["tables"].items():
        print(f"{name:<42}{t['cells']:>7,}{t['total']:>10,}{t['error95']:>7}{t['mae']:>8.1f}"
              f"{100 * t['within20']:>11.1f}%{t['needed']:>8}")
    two = [t for t in result["tables"].values() if t["dims"] == 2]
    if two:
        print(f"two-dimension tables: {100 * min(t['within20'] for t in two):.1f}% of members (worst table) "
              "in cells within ±20 %")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000", help="comma-separated account counts")
    parser.add_argument("--draws", type=int, default=20, help="releases drawn per size (fresh noise each)")
    parser.add_argument("--keep-templates", action="store_true", help="reuse bench_pipeline's kept data")
    args = parser.parse_args(argv)
    from retention.localpg import ensure_postgres

    admin = ensure_postgres(REPO / "var" / "pg")
    dbs = Databases(admin)
    results = {}
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            template = build_template(dbs, size, args.keep_templates)
            app, wh = clone(dbs, template)
            app_url, wh_url = url(admin, app, "retention_pipeline"), url(admin, wh, "retention_pipeline")
            with tempfile.TemporaryDirectory() as home:
                say(f"{size:,} accounts: DAG run as of {AS_OF}")
                run_dag(Path(home), app_url, wh_url, AS_OF)
            results[size] = measure(url(admin, app), url(admin, wh), args.draws)
            print_table(size, results[size])
    finally:
        dbs.drop_all()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "release_utility.json").write_text(json.dumps(results, indent=2))
    say(f"wrote {OUT / 'release_utility.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
