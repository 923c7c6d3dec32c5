"""The synthetic data generator against real PostgreSQL: deterministic content, a plausible spread,
document files on disk, the schema left exactly as it was, and a refusal to load twice."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from retention.appschema import create_app_schema
from retention.synthetic import APP_TABLES, SyntheticDataError, generate

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
ACCOUNTS = 2_000

# Every column of every table, ordered by a key that does not depend on physical order.
CONTENT_QUERIES = {
    "accounts": "select md5(string_agg(t::text, '|' order by id)) from app.accounts t",
    "activity_events": "select md5(string_agg(t::text, '|' order by id)) from app.activity_events t",
    "connection_logs": "select md5(string_agg(t::text, '|' order by id)) from app.connection_logs t",
    "languages": "select md5(string_agg(t::text, '|' order by account_id, language)) from app.languages t",
    **{
        table: f"select md5(string_agg(t::text, '|' order by id)) from app.{table} t"
        for table in ("projects", "education", "experiences", "documents", "applications", "assessments",
                      "messages", "prospects")
    },
}

ELIGIBLE_SQL = """
with last_seen as (
    select a.*,
           greatest(a.created_at, a.last_login_at,
                    (select max(e.occurred_at) from app.activity_events e where e.account_id = a.id),
                    (select max(p.applied_at) from app.applications p where p.account_id = a.id),
                    (select max(m.sent_at) from app.messages m where m.sender_id = a.id),
                    (select max(s.completed_at) from app.assessments s where s.account_id = a.id)) as seen
      from app.accounts a
)
select count(*)::float8,
       count(*) filter (where closed_at <= %(as_of)s)::float8,
       count(*) filter (where deceased_reported_at <= %(as_of)s)::float8,
       count(*) filter (where seen < %(as_of)s::timestamptz - interval '5 years')::float8,
       count(*) filter (where (closed_at <= %(as_of)s or deceased_reported_at <= %(as_of)s
                               or seen < %(as_of)s::timestamptz - interval '5 years')
                          and (legal_hold_until is null or legal_hold_until < %(as_of)s::date)
                          and (post_mortem_retain_until is null
                               or post_mortem_retain_until < %(as_of)s::date))::float8,
       count(*) filter (where seen <> greatest(created_at, last_login_at))::float8,
       count(*) filter (where legal_hold_until >= %(as_of)s::date)::float8,
       count(*) filter (where post_mortem_retain_until >= %(as_of)s::date)::float8,
       count(*) filter (where closed_at > %(as_of)s)::float8
  from last_seen
"""

SCHEMA_SQL = """
select 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid)
  from pg_constraint where connamespace = 'app'::regnamespace
union all
select 'index', indrelid::regclass::text, indexrelid::regclass::text, pg_get_indexdef(indexrelid)
  from pg_index i join pg_class c on c.oid = i.indexrelid where c.relnamespace = 'app'::regnamespace
union all
select 'valid index', indexrelid::regclass::text, '', indisvalid::text
  from pg_index i join pg_class c on c.oid = i.indexrelid where c.relnamespace = 'app'::regnamespace
order by 1, 2, 3
"""


def fingerprint(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(query).fetchone()[0] for table, query in CONTENT_QUERIES.items()}


def schema_of(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(SCHEMA_SQL).fetchall()


def test_same_seed_same_database_and_a_plausible_spread(databases, tmp_path):
    docs = tmp_path / "documents"
    first, second = databases.create("synth"), databases.create("synth")
    for url in (first, second):
        create_app_schema(url, logs_layout="partitioned")
    schema_before = schema_of(first)

    counts = generate(first, accounts=ACCOUNTS, seed=1, as_of=AS_OF, documents_dir=docs, progress=False)
    again = generate(second, accounts=ACCOUNTS, seed=1, as_of=AS_OF, documents_dir=docs, progress=False)
    assert counts == again
    assert set(counts) == set(APP_TABLES)

    # Identical content, column by column, and the reference schema untouched by the load.
    assert fingerprint(first) == fingerprint(second)
    assert schema_of(first) == schema_before

    with psycopg.connect(first) as conn:
        for table in APP_TABLES:
            assert conn.execute(f"select count(*) from app.{table}").fetchone()[0] == counts[table], table
        assert counts["accounts"] == ACCOUNTS
        assert conn.execute("select min(id), max(id) from app.accounts").fetchone() == (1, ACCOUNTS)
        assert 15 * ACCOUNTS <= counts["activity_events"] <= 25 * ACCOUNTS
        assert counts["connection_logs"] == 20 * ACCOUNTS
        assert counts["prospects"] == max(100, ACCOUNTS // 5)
        assert counts["projects"] == 20

        total, closed, deceased, inactive, eligible, seen_late, held, kept, closing_later = conn.execute(
            ELIGIBLE_SQL, {"as_of": AS_OF}
        ).fetchone()
        assert 0.085 <= eligible / total <= 0.105
        assert 0.04 <= closed / total < 0.05
        assert 0.035 <= inactive / total < 0.05
        assert 0.004 <= deceased / total <= 0.01
        assert held >= 4 and kept >= 2 and closing_later >= 1
        # last_login_at is the account's last activity: child rows never postdate it.
        assert seen_late == 0

        # Logs are written like a real log: ids follow time.
        unordered = conn.execute(
            "select count(*) from (select occurred_at < lag(occurred_at) over (order by id) as back "
            "from app.connection_logs) s where back"
        ).fetchone()[0]
        assert unordered == 0
        visitors, families = conn.execute(
            "select avg((account_id is null)::int), array_agg(distinct family(ip)) from app.connection_logs"
        ).fetchone()
        assert 0.08 <= visitors <= 0.16 and sorted(families) == [4, 6]
        assert conn.execute("select count(distinct email) from app.accounts").fetchone()[0] == ACCOUNTS
        french, abroad_five_digits = conn.execute(
            "select avg((country_code = 'FR')::int), "
            "count(*) filter (where country_code <> 'FR' and postal_code ~ '^[0-9]{5}$') from app.accounts"
        ).fetchone()
        assert 0.92 <= french <= 0.98 and abroad_five_digits == 0

        # Small loads write the document files the rows point to.
        uris = [u for (u,) in conn.execute("select storage_uri from app.documents")]
    assert uris
    for uri in uris:
        parts = urlsplit(uri)
        assert parts.scheme == "file"
        path = Path(unquote(parts.path))
        assert path.is_file() and path.is_relative_to(docs.resolve())


def test_refuses_a_non_empty_schema_and_loads_the_plain_log_layout(databases, tmp_path):
    url = databases.create("synth")
    create_app_schema(url, logs_layout="plain")
    counts = generate(url, accounts=300, seed=3, as_of=AS_OF, documents_dir=tmp_path, progress=False,
                      logs_per_account=5, write_files=False)
    assert counts["connection_logs"] == 1_500 and counts["prospects"] == 100
    assert not any(tmp_path.iterdir())  # write_files=False: rows only
    with psycopg.connect(url) as conn:
        # COPY FREEZE into the plain tables: pages are all-visible (no hint-bit rewrite, index-only scans).
        pages, visible = conn.execute(
            "select relpages, relallvisible from pg_class where oid = 'app.activity_events'::regclass"
        ).fetchone()
        assert pages > 0 and visible == pages
    with pytest.raises(SyntheticDataError, match="already has rows"):
        generate(url, accounts=10, seed=1, as_of=AS_OF, documents_dir=tmp_path, progress=False)


def test_refuses_a_database_without_the_app_schema(databases, tmp_path):
    url = databases.create("synth")
    with pytest.raises(SyntheticDataError, match="create the schema first"):
        generate(url, accounts=10, seed=1, as_of=AS_OF, documents_dir=tmp_path, progress=False)
