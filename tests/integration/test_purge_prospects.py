"""Prospect purge on real PostgreSQL: objection before/at/after as_of, the three-year boundary to the
second, a contact after as_of, dry run, rerun, and a crash between batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest
from retention.appschema import create_app_schema
from retention.db import make_engine
from retention.faults import InjectedFault
from retention.migrate import migrate_app
from retention.policy import load_policy
from retention.prospects import purge_prospects
from retention.window import RunWindow

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"  # three years before: 2023-06-15T00:00:00Z

# label: (collected_at, last_contact_at, objected_at, expected fate)
CASES = {
    "objected_before_as_of": ("2026-01-01T00:00:00Z", None, "2026-03-01T00:00:00Z", "objected"),
    "objected_at_as_of": ("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-06-15T00:00:00Z", "objected"),
    "objected_after_as_of": ("2026-01-01T00:00:00Z", None, "2026-06-15T00:00:01Z", "stays"),
    "objected_and_expired": ("2019-01-01T00:00:00Z", None, "2025-01-01T00:00:00Z", "objected"),
    "expired_objection_after_as_of": ("2019-01-01T00:00:00Z", None, "2026-07-01T00:00:00Z", "expired"),
    "collected_second_before_cutoff": ("2023-06-14T23:59:59Z", None, None, "expired"),
    "collected_at_cutoff": ("2023-06-15T00:00:00Z", None, None, "stays"),
    "contact_second_before_cutoff": ("2018-05-05T00:00:00Z", "2023-06-14T23:59:59Z", None, "expired"),
    "contact_at_cutoff": ("2018-05-05T00:00:00Z", "2023-06-15T00:00:00Z", None, "stays"),
    "old_but_contact_after_as_of": ("2018-05-05T00:00:00Z", "2026-09-01T00:00:00Z", None, "stays"),
    "collected_after_as_of": ("2026-08-01T00:00:00Z", None, None, "stays"),
    "recent": ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", None, "stays"),
}


class ProspectsDb:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate_app(self.engine)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)

    def seed(self, cases: dict[str, tuple], copies: int = 1) -> None:
        with self.connect() as c:
            for _ in range(copies):
                for label, (collected, contact, objected, _fate) in cases.items():
                    c.execute(
                        "insert into app.prospects (first_name, last_name, email, company, source, "
                        "collected_at, last_contact_at, objected_at) values (%s, 'Secret', %s, 'Acme', 'fair', %s, %s, %s)",
                        (label, f"{label}@prospect.example", collected, contact, objected),
                    )

    def labels(self) -> list[str]:
        with self.connect() as c:
            return sorted(r[0] for r in c.execute("select first_name from app.prospects"))

    def audit(self, run_id: str) -> dict | None:
        with self.connect() as c:
            c.row_factory = psycopg.rows.dict_row
            return c.execute(
                "select rows_affected, details, cutoff, dry_run from retention.rule_audit "
                "where run_id = %s and rule = 'purge_prospects'", (run_id,)
            ).fetchone()


@pytest.fixture
def db(databases) -> Iterator[ProspectsDb]:
    url = databases.create("prospects")
    create_app_schema(url, logs_layout="plain")
    made = ProspectsDb(url)
    yield made
    made.engine.dispose()


def purge(db: ProspectsDb, run_id: str = "run-1", dry_run: bool = False, as_of: str = AS_OF, **policy_changes):
    policy = dataclasses.replace(load_policy(), **policy_changes)
    return purge_prospects(db.engine, RunWindow.build(as_of, policy, dry_run), policy, run_id)


def fates(fate: str) -> list[str]:
    return sorted(label for label, case in CASES.items() if case[3] == fate)


def test_objection_contact_and_three_year_boundary(db):
    db.seed(CASES)
    result = purge(db)

    assert db.labels() == fates("stays")
    assert result["deleted_by_reason"] == {"objected": len(fates("objected")), "expired": len(fates("expired"))}
    assert result["rows_deleted"] == len(fates("objected")) + len(fates("expired"))
    assert result["cutoff"] == "2023-06-15T00:00:00+00:00"
    audit = db.audit("run-1")
    assert audit["rows_affected"] == result["rows_deleted"]
    assert audit["details"] == result["deleted_by_reason"]
    assert audit["dry_run"] is False and audit["cutoff"].isoformat() == "2023-06-15T00:00:00+00:00"


def test_objection_dated_after_as_of_waits_for_a_later_run(db):
    db.seed({"objects_later": CASES["objected_after_as_of"]})
    assert purge(db)["rows_deleted"] == 0
    assert purge(db, run_id="run-2", as_of="2026-06-15T00:00:01+00:00")["deleted_by_reason"]["objected"] == 1
    assert db.labels() == []


def test_dry_run_counts_and_changes_nothing(db):
    db.seed(CASES)
    result = purge(db, dry_run=True)

    assert result["dry_run"] is True
    assert result["would_delete_by_reason"] == {"objected": len(fates("objected")), "expired": len(fates("expired"))}
    assert result["would_delete"] == len(CASES) - len(fates("stays"))
    assert db.labels() == sorted(CASES)
    assert db.audit("run-1") is None


def test_rerun_deletes_nothing_more_and_audit_stays_exact(db):
    db.seed(CASES, copies=5)
    first = purge(db, prospect_batch_size=4)
    again = purge(db, prospect_batch_size=4)
    other = purge(db, run_id="run-2")

    gone = 5 * (len(CASES) - len(fates("stays")))
    assert first["rows_deleted"] == gone and first["batches"] == -(-gone // 4)
    assert again["rows_deleted"] == 0 and again["batches"] == 0
    assert other["rows_deleted"] == 0
    assert db.audit("run-1")["rows_affected"] == gone
    assert db.audit("run-1")["details"] == {"objected": 5 * len(fates("objected")), "expired": 5 * len(fates("expired"))}
    assert db.audit("run-2")["rows_affected"] == 0


def test_crash_between_batches_then_rerun_counts_each_prospect_once(db, monkeypatch):
    db.seed(CASES, copies=10)
    gone = 10 * (len(CASES) - len(fates("stays")))

    monkeypatch.setenv("RETENTION_FAULT_POINT", "prospects.after_batch")
    with pytest.raises(InjectedFault):
        purge(db, prospect_batch_size=7)
    assert db.audit("run-1")["rows_affected"] == 7  # the committed batch, with its audit increment
    monkeypatch.delenv("RETENTION_FAULT_POINT")
    resumed = purge(db, prospect_batch_size=7)

    assert resumed["rows_deleted"] == gone - 7
    assert db.labels() == sorted(fates("stays") * 10)
    audit = db.audit("run-1")
    assert audit["rows_affected"] == gone
    assert audit["details"] == {"objected": 10 * len(fates("objected")), "expired": 10 * len(fates("expired"))}
