"""The application schema grown as a platform team grows it, through the real DAG: each drift from the
data map stops the night before anything is destroyed, names what drifted (never a value), and,
once the map is updated (a copy pointed at by RETENTION_DATAMAP), the next night anonymises the
new data too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dagrun import run_dag
from platform_fixture import make_platform
from retention.datamap import DEFAULT_DATAMAP_FILE, load_datamap

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
SECRET_EMAIL = "drift.secret.person@example.org"
SECRET_NAME = "Driftsecret"
SECRET_URL = "https://github.com/driftsecret"
SECRET_CERT = "Certified Driftsecret Annotator"
STOPPED = ["accounts.plan_account_batches", "accounts.anonymise_account_batch", "accounts.finalize_accounts",
           "connection_logs.purge_connection_logs", "prospects.purge_prospects"]


def seed(p) -> int:
    """Six active members, one closed member with personal data and child rows, expired logs and prospects."""
    with p.app() as c:
        for n in range(6):
            p.add_account(c, email=f"kept{n}@example.org", last_login_at="2026-06-01T00:00:00+00:00")
        gone = p.add_account(c, email=SECRET_EMAIL, first_name=SECRET_NAME, closed_at="2026-01-01T00:00:00+00:00")
        p.add(c, "experiences", account_id=gone, title="annotator", company=SECRET_NAME, is_annotation=True)
        p.add(c, "experiences", account_id=1, title="engineer", company="Acme", is_annotation=False)
        p.add(c, "languages", account_id=gone, language="fr", level="native")
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) values "
                  "(1, '10.7.7.1', '2025-01-01T00:00:00+00:00', '/old'), (1, '10.7.7.2', '2026-06-01T00:00:00+00:00', '/new')")
        c.execute("insert into app.prospects (email, collected_at) values ('old.prospect@example.org', '2020-01-01')")
    return gone


def app_fingerprint(p) -> str:
    """md5 of every row of every table of schema app, whatever the tables are called today."""
    tables = [name for (name,) in p.rows(
        "select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = 'app' and c.relkind in ('r', 'p') and not c.relispartition order by 1")]
    return "/".join(p.scalar(f'select md5(coalesce(string_agg(t::text, \'|\' order by t::text), \'\')) from app."{t}" as t')
                    for t in tables)


def night_stops(p, capfd, drifted: list[str]) -> None:
    """The night fails at the schema gate, nothing is destroyed, the drift is named, no value is shown."""
    before = app_fingerprint(p)
    outcome = run_dag(p, as_of=AS_OF)
    assert outcome.state == "failed"
    assert outcome.state_of("accounts.check_app_schema") == "failed", outcome.task_states
    for task_id in STOPPED:
        assert not outcome.ran(task_id), f"{task_id} ran after the schema drifted: {outcome.task_states[task_id]}"
    assert app_fingerprint(p) == before, "nothing may change on a night whose schema drifted"
    assert p.scalar("select count(*) from app.accounts where anonymised_at is not null") == 0
    (description,) = p.rows("select description from retention.quality_results "
                            "where check_name = 'app_schema_matches_data_map' and not success")[0]
    logs = "".join(capfd.readouterr())
    for what in drifted:
        assert what in description, (what, description)
        assert what in logs, what
    stored = json.dumps(p.rows("select * from retention.quality_results"), default=str)
    for haystack in (stored, json.dumps(outcome.xcoms, default=str), logs):
        for secret in (SECRET_EMAIL, SECRET_NAME, SECRET_URL, SECRET_CERT, "10.7.7."):
            assert secret not in haystack, secret


def night_passes(p, datamap: Path | None = None):
    env = {"RETENTION_DATAMAP": str(datamap)} if datamap else None
    outcome = run_dag(p, as_of=AS_OF, extra_env=env)
    assert outcome.state == "success", outcome.task_states
    return outcome


def edited_map(tmp_path: Path, edit) -> Path:
    """A copy of the reviewed map with one change, validated by the same loader as the pipeline's."""
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    edit({c["name"]: c for c in document["dataset"][0]["collections"]}, document["dataset"][0]["collections"])
    path = tmp_path / "datamap.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    load_datamap(path)
    return path


def test_new_personal_column_on_accounts_stops_the_night_then_is_anonymised_once_mapped(databases, capfd, tmp_path):
    p = make_platform(databases)
    gone = seed(p)
    with p.app() as c:
        c.execute("alter table app.accounts add column github_url text")
        c.execute("update app.accounts set github_url = %s || '-' || id", (SECRET_URL,))

    night_stops(p, capfd, ["app.accounts.github_url: column not in the data map (text)"])

    def add_column(tables, _):
        tables["accounts"]["fields"].append({
            "name": "github_url", "data_categories": ["user.social"],
            "retention": {"type": "text", "category": "professional life", "personal": True, "treatment": "null"}})
    mapped = edited_map(tmp_path, add_column)
    night_passes(p, mapped)
    assert p.scalar("select anonymised_at is not null and github_url is null and email is null "
                    "from app.accounts where id = %s", (gone,)), "the new column is anonymised with the rest"
    assert p.scalar("select count(*) from app.accounts where github_url is not null") == 6, "members keep theirs"
    assert p.scalar("select count(*) from app.experiences where account_id = %s", (gone,)) == 0
    counted = p.scalar("select sum(members) from stats.anonymised_cohorts", db="wh")
    assert counted == 1

    night_passes(p, mapped)  # idempotent: nothing left to do, nothing counted twice
    assert p.scalar("select sum(members) from stats.anonymised_cohorts", db="wh") == counted
    assert p.scalar("select count(*) from app.accounts where github_url is not null") == 6


def test_new_table_hanging_off_accounts_stops_the_night_until_mapped_and_granted(databases, capfd, tmp_path):
    p = make_platform(databases)
    gone = seed(p)
    with p.app() as c:
        c.execute("create table app.certifications (id bigint generated always as identity primary key, "
                  "account_id bigint not null references app.accounts (id), title text, obtained_on date)")
        c.execute("insert into app.certifications (account_id, title, obtained_on) "
                  "select id, %s, date '2024-01-01' from app.accounts", (SECRET_CERT,))

    night_stops(p, capfd, ["app.certifications: table not in the data map (4 column(s), hangs off app.accounts"])

    def add_table(_, collections):
        def field(name, type_, personal=True, category="professional life", refs=None):
            entry = {"name": name, "data_categories": ["user.workplace" if personal else "system.operations"],
                     "retention": {"type": type_, "category": category, "personal": personal, "treatment": "delete row"}}
            if refs:
                entry["fides_meta"] = {"references": [{"dataset": "app", "field": refs, "direction": "to"}]}
            return entry
        collections.append({
            "name": "certifications", "description": "Certifications a member holds.",
            "retention": {"clock": "account", "person": "account_id",
                          "policy": ["account_inactivity_years", "closed_account_grace_days"]},
            "fields": [field("id", "bigint", personal=False, category="technical"),
                       field("account_id", "bigint", category="identity", refs="accounts.id"),
                       field("title", "text"), field("obtained_on", "date")]})
    mapped = edited_map(tmp_path, add_table)

    # Mapped, but the platform's DBA has not granted the pipeline the right to delete from it yet.
    before = app_fingerprint(p)
    outcome = run_dag(p, as_of=AS_OF, extra_env={"RETENTION_DATAMAP": str(mapped)})
    assert outcome.state_of("accounts.check_app_schema") == "failed", outcome.task_states
    assert not outcome.ran("accounts.anonymise_account_batch")
    assert app_fingerprint(p) == before
    assert "app.certifications: the pipeline's role lacks a privilege the data map needs (DELETE)" in \
        "".join(capfd.readouterr())

    with p.app() as c:
        c.execute("grant select, delete on app.certifications to retention_pipeline")
    night_passes(p, mapped)
    assert p.scalar("select count(*) from app.certifications where account_id = %s", (gone,)) == 0
    assert p.scalar("select count(*) from app.certifications") == 6, "the members' certifications stay"
    assert p.scalar("select email is null from app.accounts where id = %s", (gone,))


def test_dropped_column_stops_the_night_then_resumes_once_unmapped(databases, capfd, tmp_path):
    p = make_platform(databases)
    gone = seed(p)
    with p.app() as c:
        c.execute("alter table app.accounts drop column nationality")

    night_stops(p, capfd, ["app.accounts.nationality: mapped column missing from the database"])

    def drop_column(tables, _):
        tables["accounts"]["fields"] = [f for f in tables["accounts"]["fields"] if f["name"] != "nationality"]
    night_passes(p, edited_map(tmp_path, drop_column))
    assert p.scalar("select anonymised_at is not null and email is null and first_name is null "
                    "from app.accounts where id = %s", (gone,))


def test_renamed_child_table_stops_the_night_then_resumes_once_renamed_in_the_map(databases, capfd, tmp_path):
    p = make_platform(databases)
    gone = seed(p)
    with p.app() as c:
        c.execute("alter table app.experiences rename to work_experiences")

    night_stops(p, capfd, ["app.work_experiences: table not in the data map (8 column(s), hangs off app.accounts",
                           "app.experiences: mapped table missing from the database"])

    def rename(tables, _):
        tables["experiences"]["name"] = "work_experiences"  # its key (experiences) stays
    night_passes(p, edited_map(tmp_path, rename))
    assert p.scalar("select count(*) from app.work_experiences where account_id = %s", (gone,)) == 0
    assert p.scalar("select count(*) from app.work_experiences") == 1, "the member's experience stays"
    assert p.scalar("select coalesce(sum(members), 0) from stats.experience_profiles", db="wh") == 1, \
        "the renamed table's rows were still aggregated"


def test_new_kind_of_uploaded_file_stops_the_night_then_is_erased_once_mapped(databases, capfd, tmp_path):
    p = make_platform(databases)
    gone = seed(p)
    files = tmp_path / "store"
    files.mkdir()
    cv, thumbnail, kept_thumbnail = files / "cv.pdf", files / "thumb.png", files / "kept-thumb.png"
    for path in (cv, thumbnail, kept_thumbnail):
        path.write_bytes(b"stored file")
    with p.app() as c:
        c.execute("alter table app.documents add column thumbnail_uri text")
        p.add(c, "documents", account_id=gone, kind="cv", storage_uri=cv.as_uri(), thumbnail_uri=thumbnail.as_uri())
        p.add(c, "documents", account_id=1, kind="cv", storage_uri=None, thumbnail_uri=kept_thumbnail.as_uri())

    night_stops(p, capfd, ["app.documents.thumbnail_uri: column not in the data map (text)"])
    assert cv.exists() and thumbnail.exists()

    def add_file_column(tables, _):
        tables["documents"]["fields"].append({
            "name": "thumbnail_uri", "data_categories": ["user.content.self_image"],
            "retention": {"type": "text", "category": "content", "personal": True, "treatment": "erase file"}})
    night_passes(p, edited_map(tmp_path, add_file_column))
    assert not cv.exists() and not thumbnail.exists(), "both stored files of the member are erased"
    assert kept_thumbnail.exists(), "a member's file stays"
    assert p.scalar("select count(*) from app.documents where account_id = %s", (gone,)) == 0
    assert p.scalar("select count(*) from app.documents") == 1


def test_reference_schema_matches_the_map_and_warehouse_too(databases):
    """No drift on the reference schema (pg_catalog types included) nor on the migrated warehouse."""
    from retention.db import make_engine
    from retention.drift import find_drift
    from retention.migrate import migrate_warehouse
    from retention.policy import load_policy

    p = make_platform(databases)
    datamap = load_datamap()
    app = make_engine(p.pipeline_app_url)
    wh = make_engine(p.pipeline_warehouse_url)
    try:
        migrate_warehouse(wh, load_policy())
        with app.connect() as conn:
            assert find_drift(conn, datamap, "app") == []
        with wh.connect() as conn:
            assert find_drift(conn, datamap, "stats", privileges=False) == []
            assert find_drift(conn, datamap, "published", privileges=False) == []
    finally:
        app.dispose()
        wh.dispose()
