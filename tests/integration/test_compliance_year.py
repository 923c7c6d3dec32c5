"""The Retention page at a year of history: 365 nightly runs seeded in the audit tables (as a year of
the real DAG would leave them), the page read and rendered, its figures checked against the database
by independent SQL, and every query shown to be served by an index (EXPLAIN). The page's time is
printed, not asserted (speed is shown by numbers in the note, not by timed tests)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

LAST_AS_OF = datetime(2026, 6, 15, tzinfo=timezone.utc)
NIGHTS = 365
FAILED_NIGHT = datetime(2026, 4, 10, tzinfo=timezone.utc)  # accounts_after failed: the run failed
LATE_NIGHT = datetime(2026, 2, 2, tzinfo=timezone.utc)  # finished 07:10 Paris

SEED_SQL = """
insert into retention.runs (run_id, as_of, dry_run, policy, started_at, finished_at, status, report)
select 'scheduled__' || to_char(d, 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00', d, false, '{}'::jsonb,
       d + interval '1 minute',
       case when d = %(late)s then d + interval '6 hours 10 minutes'
            else d + interval '1 minute' + make_interval(secs => 40 + (extract(doy from d)::int %% 30)) end,
       case when d = %(failed)s then 'failed' else 'success' end,
       jsonb_build_object('cutoffs', jsonb_build_object('deceased_on_or_before', d))
from generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 day') as d;

-- A dry run and a rerun of the last night that failed first: neither is a bar of its own.
insert into retention.runs (run_id, as_of, dry_run, policy, started_at, finished_at, status)
values ('manual__dry', %(last)s, true, '{}', %(last)s + interval '3 hours', %(last)s + interval '4 hours', 'success'),
       ('manual__first_try', %(last)s, false, '{}', %(last)s, %(last)s + interval '20 seconds', 'failed');

insert into retention.rule_audit (run_id, rule, as_of, cutoff, dry_run, rows_affected, partitions_dropped)
select r.run_id, x.rule, r.as_of, r.as_of, false,
       case x.rule when 'anonymise_deceased' then 1 + extract(day from r.as_of)::int %% 3
                   when 'anonymise_closed' then 10 + extract(day from r.as_of)::int
                   when 'anonymise_inactive' then 30 + extract(month from r.as_of)::int
                   when 'purge_connection_logs' then 5000 + extract(doy from r.as_of)::int
                   else 7 end,
       case when x.rule = 'purge_connection_logs' then 1 else 0 end
from retention.runs as r
cross join (values ('anonymise_deceased'), ('anonymise_closed'), ('anonymise_inactive'),
                   ('purge_connection_logs'), ('purge_prospects')) as x (rule)
where not r.dry_run and r.run_id <> 'manual__first_try';

insert into retention.quality_results (run_id, gate, check_name, success, description, data_docs)
select r.run_id, g.gate, g.gate || '_check_' || c, not (r.as_of = %(failed)s and g.gate = 'accounts_after' and c = 1),
       'a check', %(docs)s || '/' || r.run_id || '/' || g.gate || '/index.html'
from retention.runs as r
cross join (values ('accounts_before'), ('accounts_after'), ('warehouse_after'), ('connection_logs_after'),
                   ('prospects_after')) as g (gate)
cross join generate_series(1, 3) as c
where not r.dry_run and r.run_id <> 'manual__first_try'
  and not (r.as_of = %(failed)s and g.gate in ('connection_logs_after', 'prospects_after', 'warehouse_after'));

-- Alerts the notifier recorded: the failed night's two (sent the morning after), the late night's, a
-- night that never ran (no run id), and one of a run older than the year.
insert into retention.alerts_sent (event, run_id, channel, sent_at)
select e.event, r.run_id, 'email', r.as_of + interval '5 hours'
from retention.runs as r
cross join (values ('gate_failed'), ('run_failed')) as e (event)
where r.as_of = %(failed)s and not r.dry_run;

insert into retention.alerts_sent (event, run_id, channel, sent_at)
select 'deadline_missed', run_id, 'webhook', as_of + interval '4 hours' from retention.runs where as_of = %(late)s;

insert into retention.alerts_sent (event, run_id, channel, sent_at)
values ('deadline_missed', null, 'email', '2026-05-20T04:00:00+00:00'),
       ('run_failed', 'scheduled__2025-06-20T00:00:00+00:00', 'email', '2025-06-20T05:00:00+00:00');

insert into retention.inactivity_notices (account_id, notice_due_on, anonymise_on)
select n, %(last)s::date + (n %% 40) - 5, %(last)s::date + (n %% 40) + 25
from generate_series(1, 400) as n;
"""


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_a_year_of_nightly_runs(databases, tmp_path, capsys):
    from retention.compliance import render
    from retention.compliance.queries import CHART_NIGHTS, make_readonly_engine, proof_csv, read_page
    from retention.migrate import migrate_app
    from retention.synthetic import generate
    from sqlalchemy import create_engine, text

    p = make_platform(databases)
    generate(p.app_url, accounts=2000, seed=3, as_of=LAST_AS_OF.isoformat(), documents_dir=tmp_path / "docs",
             progress=False)
    admin = create_engine(p.pipeline_app_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        migrate_app(admin)  # as the pipeline does, with its own role
    finally:
        admin.dispose()
    docs = tmp_path / "data_docs"
    with p.app() as conn:
        params = {"first": LAST_AS_OF - timedelta(days=NIGHTS - 1), "last": LAST_AS_OF,
                  "failed": FAILED_NIGHT, "late": LATE_NIGHT, "docs": str(docs)}
        for statement in SEED_SQL.split(";\n\n"):
            conn.execute(statement, params)
        conn.execute("analyze retention.runs, retention.rule_audit, retention.quality_results, "
                     "retention.inactivity_notices, retention.alerts_sent")
    # Data Docs of the last night only are still on disk (older ones were removed by the maintenance).
    last_run = "scheduled__2026-06-15T00:00:00+00:00"
    for gate in ("accounts_before", "accounts_after", "warehouse_after", "connection_logs_after", "prospects_after"):
        (docs / last_run / gate).mkdir(parents=True)
        (docs / last_run / gate / "index.html").write_text("<html></html>")

    eng = make_readonly_engine(p.pipeline_app_url)
    try:
        timings = {}
        for label, now in (("fresh (now = last as_of + 10 h)", LAST_AS_OF + timedelta(hours=10)),
                           ("stale (now = last as_of + 174 days: two backlog counts)", LAST_AS_OF + timedelta(days=174))):
            read_page(eng, now=now, docs_root=docs)  # the first request also connects
            started = time.perf_counter()
            data = read_page(eng, now=now, docs_root=docs)
            html = render.render_page(data)
            timings[label] = time.perf_counter() - started

        # One bar per night, the last CHART_NIGHTS; the rerun of the last night is its bar.
        # The year of proof is the 12 calendar months ending with the last as_of's: July 2025 to
        # 2026-06-15 (the seeded nights of June 2025 are older than the year and not read).
        assert len(data.nights) == (LAST_AS_OF - datetime(2025, 7, 1, tzinfo=timezone.utc)).days + 1 == 350
        chart = data.chart_nights
        assert len(chart) == CHART_NIGHTS and chart[0].run_id == last_run
        assert 'data-runs="90"' in html and "last 90 nights" in html
        assert data.stale and data.backlog_at_last_run is not None
        assert data.backlog_at_last_run.as_of == LAST_AS_OF

        # The verdict: last night ran, passed its gates and kept its deadline; but the seeded history
        # never processed the synthetic data, so what was due at its as_of is still there: said so.
        for promise in ("ran", "gates", "deadline"):
            assert f'data-promise="{promise}" data-state="kept"' in html, promise
        assert 'data-figure="verdict">Not kept: Nothing left overdue.<' in html
        assert not data.backlog_at_last_run.clear
        assert f'data-figure="verdict.run">{last_run}<' in html

        # The year of proof equals what independent SQL sums per month.
        expected = {month: (nights, runs, failed, anonymised, logs, gates_failed) for
                    month, nights, runs, failed, anonymised, logs, gates_failed in p.rows("""
            select to_char(r.as_of at time zone 'UTC', 'YYYY-MM'), count(distinct (r.as_of at time zone 'UTC')::date),
                   count(*), count(*) filter (where r.status = 'failed'),
                   coalesce(sum((select sum(rows_affected) from retention.rule_audit a
                                 where a.run_id = r.run_id and a.rule like 'anonymise_%%')), 0),
                   coalesce(sum((select sum(rows_affected) from retention.rule_audit a
                                 where a.run_id = r.run_id and a.rule = 'purge_connection_logs')), 0),
                   coalesce(sum((select count(distinct gate) filter (where not success) from retention.quality_results q
                                 where q.run_id = r.run_id)), 0)
            from retention.runs r where not r.dry_run and r.as_of >= '2025-07-01' group by 1""")}
        shown = {m.month.strftime("%Y-%m"): (m.nights, m.runs, m.runs_failed, sum(m.anonymised.values()),
                                             m.logs_purged, m.gates_failed) for m in data.months}
        assert shown == expected
        june = next(m for m in data.months if m.month.month == 6)
        assert (june.runs, june.nights, june.runs_failed) == (16, 15, 1)  # the failed first try counts
        april = next(m for m in data.months if m.month.month == 4)
        assert (april.runs_failed, april.gates_failed, april.alerts) == (1, 1, 2)
        february = next(m for m in data.months if m.month.month == 2)
        assert february.late == 1 and february.alerts == 1
        # Alerts sent, as the notifier recorded them: per month of the run's as_of, else of sending.
        sent = {m.month.strftime("%Y-%m"): m.alerts_sent for m in data.months if m.alerts_sent}
        assert sent == {"2026-04": 2, "2026-02": 1, "2026-05": 1}
        csv_lines = proof_csv(data.months).splitlines()
        assert len(csv_lines) == 13 and csv_lines[1].startswith("2025-07,31,31,0,")
        assert csv_lines[0].endswith(",alerts_raised,alerts_sent")
        assert next(line for line in csv_lines if line.startswith("2026-04,")).endswith(",2,2")

        # The failed night's strip cell and its missing Data Docs; the last night's Data Docs linked.
        assert 'data-gate-cell="accounts_after" data-state="failed"' in html
        last = data.runs[0]
        assert last.run_id == last_run and all(g.docs_href and not g.docs_missing for g in last.gates)
        older = data.recent_runs[2]
        assert all(g.docs_missing and g.docs_href is None for g in older.gates)

        # Notices counted at the last as_of (the history is stale): due by 2026-06-15.
        assert data.notices.on.isoformat() == "2026-06-15"
        assert data.notices.listed == 400
        assert data.notices.due == p.scalar("select count(*) from retention.inactivity_notices "
                                            "where notice_due_on <= '2026-06-15'")

        # Every query of the page's history is served by an index: with sequential scans priced out,
        # no retention table is read by a Seq Scan (an index-less query would still have to). The
        # notices are read whole on purpose (the table holds only the notice period's members).
        from retention.sqlfiles import load_sql

        queries = {
            "select_run_history": (load_sql("compliance/select_run_history"), {"table_runs": 10}),
            "select_gate_results": (load_sql("compliance/select_gate_results"),
                                    {"run_ids": [r.run_id for r in chart]}),
            "count_alerts_sent": (load_sql("compliance/count_alerts_sent"),
                                  {"since": datetime(2025, 7, 1, tzinfo=timezone.utc)}),
        }
        with eng.connect() as conn, conn.begin():
            conn.execute(text("set local enable_seqscan = off"))
            for name, (sql, params) in queries.items():
                plan = conn.execute(text("explain (format json) " + sql), params).scalar_one()
                plan = plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]
                scans = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in plan_nodes(plan)
                         if "Scan" in n["Node Type"] and n.get("Schema", "retention") == "retention"
                         and n.get("Relation Name")]
                assert scans, name
                assert not [s for s in scans if s[0] == "Seq Scan"], (name, scans)
        # A page deployed before the next run migrates the schema: no alerts table yet, no error.
        with p.app() as conn:
            conn.execute("drop table retention.alerts_sent")
        older = read_page(eng, now=LAST_AS_OF + timedelta(hours=10), docs_root=docs)
        assert sum(m.alerts_sent for m in older.months) == 0 and len(older.nights) == 350
    finally:
        eng.dispose()
    with capsys.disabled():
        print(f"\n[compliance page, {NIGHTS} nightly runs + 2,000 accounts] read + render: "
              + "; ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
