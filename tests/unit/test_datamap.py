"""The data map is complete, valid, and equal to what every statement touches (proved by parsing the
SQL, never by a hand-copied list); the README's table is the one generated from it."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from retention.accounts import scrub_statement
from retention.datamap import (
    DEFAULT_DATAMAP_FILE,
    DataMapError,
    load_datamap,
    parse_datamap,
    readme_section,
    replace_readme_section,
)
from retention.drift import compare
from retention.mapsql import map_sql, render
from retention.sqlfiles import load_sql

REPO = Path(__file__).resolve().parents[2]
MAP = load_datamap()

# How PostgreSQL's format_type() prints the types sql/app/schema.sql declares.
_TYPES = {"bigint": "bigint", "int": "integer", "integer": "integer", "text": "text", "boolean": "boolean",
          "date": "date", "timestamptz": "timestamp with time zone", "inet": "inet"}


def parse_reference_schema() -> tuple[list[tuple], list[tuple]]:
    """(table, column, type, ...) and foreign-key rows, as the drift gate reads them from the catalog."""
    ddl = re.sub(r"--[^\n]*", "", load_sql("app/schema"))
    columns, keys = [], []
    for table, body in re.findall(r"create table app\.(\w+) \((.*?)\)\s*(?:partition by [^;]*)?;", ddl, re.S):
        for line in re.split(r",\n", body.strip()):
            line = line.strip()
            if line.startswith("primary key"):
                continue
            name, rest = line.split(None, 1)
            if m := re.match(r"char\((\d+)\)", rest):
                type_ = f"character({m.group(1)})"
            elif m := re.match(r"numeric\((\d+), ?(\d+)\)", rest):
                type_ = f"numeric({m.group(1)},{m.group(2)})"
            else:
                type_ = _TYPES[rest.split()[0]]
            columns.append((table, name, type_, True, True, True))
            if m := re.search(r"references app\.(\w+) \((\w+)\)", rest):
                keys.append((table, name, m.group(1), m.group(2)))
    return columns, keys


def test_the_map_covers_the_reference_schema_exactly():
    columns, keys = parse_reference_schema()
    assert len({c[0] for c in columns}) == 12 and len(columns) >= 80, "the parser read the whole DDL"
    assert compare(MAP, "app", columns, keys, privileges=False) == []


def test_drift_names_tables_and_columns():
    columns, keys = parse_reference_schema()
    renamed = {"experiences": "work_experiences"}
    grown = [(renamed.get(t, t), c, "bigint" if (t, c) == ("accounts", "phone") else ty, *rest)
             for t, c, ty, *rest in columns if (t, c) != ("accounts", "nationality")]
    grown.append(("accounts", "github_url", "text", True, True, True))
    grown += [("certifications", "id", "bigint", True, True, True), ("certifications", "account_id", "bigint", True, True, True)]
    keys = [(renamed.get(t, t), c, rt, rc) for t, c, rt, rc in keys]
    keys.append(("certifications", "account_id", "accounts", "id"))
    found = [str(d) for d in compare(MAP, "app", grown, keys, privileges=False)]
    assert "app.accounts.github_url: column not in the data map (text)" in found
    assert "app.accounts.nationality: mapped column missing from the database" in found
    assert "app.accounts.phone: type changed (database bigint, data map text)" in found
    assert "app.experiences: mapped table missing from the database" in found
    assert "app.work_experiences: table not in the data map (8 column(s), hangs off app.accounts by a foreign key)" \
        in found
    assert "app.certifications: table not in the data map (2 column(s), hangs off app.accounts by a foreign key)" \
        in found
    assert len(found) == 6, found


def test_missing_privileges_are_drift():
    columns, keys = parse_reference_schema()
    no_delete = [(t, c, ty, True, True, t != "languages") for t, c, ty, *_ in columns]
    no_update = [(t, c, ty, True, t != "messages", True) for t, c, ty, *_ in columns]
    assert [str(d) for d in compare(MAP, "app", no_delete, keys)] == [
        "app.languages: the pipeline's role lacks a privilege the data map needs (DELETE)"]
    assert [str(d) for d in compare(MAP, "app", no_update, keys)] == [
        "app.messages: the pipeline's role lacks a privilege the data map needs (UPDATE)"]


def test_every_nulled_column_of_accounts_is_in_the_scrub_and_the_tombstone_check():
    statement = scrub_statement()
    update = statement[statement.index("update app.accounts"):statement.index("anonymised_at = :as_of")]
    assert set(re.findall(r'"(\w+)" = null', update)) == {c.name for c in MAP.accounts.nulled}
    tombstone = map_sql("quality/find_unscrubbed_tombstones")
    checked = re.search(r"num_nonnulls\((.*?)\) > 0 as holds_personal_columns", tombstone).group(1)
    assert set(re.findall(r'a\."(\w+)"', checked)) == {c.name for c in MAP.accounts.nulled}


def _grown_map():
    """The reviewed map plus a new `null` column on accounts and a new table hanging off it."""
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    collections = document["dataset"][0]["collections"]
    accounts = next(c for c in collections if c["name"] == "accounts")
    accounts["fields"].append({"name": "github_url", "data_categories": ["user.social"],
                               "retention": {"type": "text", "category": "professional life", "personal": True,
                                             "treatment": "null"}})
    child = copy.deepcopy(next(c for c in collections if c["name"] == "languages"))
    child["name"] = "certifications"
    child["retention"]["key"] = "certifications"
    child["fields"] = [f for f in child["fields"] if f["name"] == "account_id"] + [
        {"name": "title", "data_categories": ["user.workplace"],
         "retention": {"type": "text", "category": "professional life", "personal": True, "treatment": "delete row"}}]
    collections.append(child)
    return parse_datamap(document, "grown")


def test_one_map_entry_is_the_whole_change_that_anonymises_a_new_column_or_table():
    grown = _grown_map()
    statement = render(load_sql("accounts/scrub_batch"), grown)
    assert '"github_url" = null' in statement
    assert 'delete from "app"."certifications" as x where x."account_id" = any(array(select id from batch_members))' \
        in statement
    assert '(select count(*) from "certifications_gone") as "certifications"' in statement
    tombstone = render(load_sql("quality/find_unscrubbed_tombstones"), grown)
    assert 'a."github_url"' in tombstone and '"app"."certifications"' in tombstone


def test_identifiers_are_quoted_never_spliced():
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    accounts = document["dataset"][0]["collections"][0]
    accounts["fields"].append({"name": 'x" = null; drop table app.accounts; --', "data_categories": ["user.social"],
                               "retention": {"type": "text", "category": "identity", "personal": True,
                                             "treatment": "null"}})
    with pytest.raises(DataMapError, match="app.accounts has a field without a valid name"):
        parse_datamap(document, "evil")


def test_eligibility_signals_are_the_maps_activity_columns():
    """select_eligible_accounts.sql and select_upcoming_inactivity.sql read exactly the map's activity dates."""
    eligible = load_sql("accounts/select_eligible_accounts")
    probes = re.findall(r"from app\.(\w+) as (\w+)\s+where \2\.(\w+) = a\.id and \2\.(\w+) >= :inactive_before", eligible)
    found = {(t, col) for t, _, _, col in probes}
    found |= {("accounts", c) for c in re.findall(r"a\.(\w+)", re.search(r"greatest\((a\.\w+, a\.\w+)\)", eligible).group(1))}
    assert found == MAP.activity_columns()
    for table, _, person, _ in probes:
        assert person == MAP.table("app", table).person, table

    upcoming = load_sql("accounts/select_upcoming_inactivity")
    body = re.search(r"greatest\((.*?)\) as last_activity", upcoming, re.S).group(1)
    found = {("accounts", c) for c in re.findall(r"^\s*a\.(\w+),?$", body, re.M)}
    found |= {(t, col) for _, col, t in re.findall(r"max\((\w)\.(\w+)\) from app\.(\w+) as \1", body)}
    assert found == MAP.activity_columns()


def test_document_deletion_reads_the_maps_file_columns():
    files = [(t.name, c.name) for t in MAP.file_tables() for c in t.file_columns]
    assert files == [("documents", "storage_uri")]
    documents = MAP.table("app", "documents")
    for name in ("accounts/select_batch_documents", "accounts/select_pending_file_deletions"):
        assert 'unnest(array[d."storage_uri"])' in map_sql(name), name
    assert re.search(r"join batch_members as b on b\.id = d\.(\w+)", load_sql("accounts/select_batch_documents")
                     ).group(1) == documents.person
    assert re.search(r"delete from app\.documents as x\s+where x\.(\w+) = any",
                     load_sql("accounts/delete_batch_documents")).group(1) == documents.person


def test_a_new_kind_of_uploaded_file_is_erased_once_mapped():
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    documents = next(c for c in document["dataset"][0]["collections"] if c["name"] == "documents")
    documents["fields"].append({"name": "thumbnail_uri", "data_categories": ["user.content.self_image"],
                                "retention": {"type": "text", "category": "content", "personal": True,
                                              "treatment": "erase file"}})
    grown = parse_datamap(document, "grown")
    for name in ("accounts/select_batch_documents", "accounts/select_pending_file_deletions"):
        assert 'unnest(array[d."storage_uri", d."thumbnail_uri"])' in render(load_sql(name), grown), name
    languages = next(c for c in document["dataset"][0]["collections"] if c["name"] == "languages")
    languages["fields"][2]["retention"]["treatment"] = "erase file"
    with pytest.raises(DataMapError, match=r"app\.languages: stored files are only erased through app\.documents"):
        parse_datamap(document, "bad")


def test_cohort_attributes_read_before_the_scrub_are_the_maps():
    members_before = re.search(r"members_before as materialized \(\s*select (.*?)\n", load_sql("accounts/scrub_batch")).group(1)
    read = set(re.findall(r"a\.(\w+)", members_before)) - {"id"}
    assert read == {c.name for c in MAP.accounts.columns if "stats.anonymised_cohorts" in c.aggregate_into}


def test_grants_are_what_the_map_needs():
    grants = load_sql("roles/grant_app_db")
    deletable = set(re.findall(r"app\.(\w+)", re.search(r"grant delete on (.*?) to", grants, re.S).group(1)))
    updatable = set(re.findall(r"app\.(\w+)", re.search(r"grant update on (.*?) to", grants, re.S).group(1)))
    assert deletable == {t.name for t in MAP.schema("app") if t.rows_deleted}
    assert updatable == {"accounts"} | {t.name for t in MAP.nulled_tables()}


def test_identifying_text_check_reads_every_text_column_of_the_aggregates():
    query = map_sql("quality/find_identifying_text_in_warehouse")
    read = set(re.findall(r'select "(\w+)"::text from "stats"\."(\w+)"', query))
    assert read == {(c, t) for t, c in MAP.text_columns("stats")}
    assert len(read) == 15  # the release inputs (features, languages and levels) too


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: f["retention"].update(treatment="hash"), r"app\.accounts\.email: treatment must be one of"),
    (lambda f: f["retention"].update(treatment="keep"), r"app\.accounts\.email: a personal column that is kept needs"),
    (lambda f: f["retention"].update(personal=False), r"app\.accounts\.email: personal is false but"),
    (lambda f: f["retention"].update(colour="red"), r"app\.accounts\.email: unknown retention key"),
    (lambda f: f["retention"].pop("type"), r"app\.accounts\.email: type"),
    (lambda f: f.update(data_categories=["User.Contact"]), r"app\.accounts\.email: data_categories"),
])
def test_malformed_entries_are_refused_naming_the_column(edit, message):
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    email = next(f for f in document["dataset"][0]["collections"][0]["fields"] if f["name"] == "email")
    edit(email)
    with pytest.raises(DataMapError, match=message):
        parse_datamap(document, "bad")


def test_structural_rules():
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    bad = copy.deepcopy(document)
    next(c for c in bad["dataset"][0]["collections"] if c["name"] == "education")["retention"]["policy"] = ["forever"]
    with pytest.raises(DataMapError, match=r"app\.education: unknown policy key"):
        parse_datamap(bad)
    bad = copy.deepcopy(document)
    education = next(c for c in bad["dataset"][0]["collections"] if c["name"] == "education")
    education["fields"][2]["retention"]["treatment"] = "null"
    with pytest.raises(DataMapError, match=r"app\.education: its rows are deleted"):
        parse_datamap(bad)
    bad = copy.deepcopy(document)
    next(c for c in bad["dataset"][0]["collections"] if c["name"] == "languages")["fields"][1]["retention"][
        "aggregate_into"] = ["stats.nowhere"]
    with pytest.raises(DataMapError, match=r"aggregates into stats\.nowhere"):
        parse_datamap(bad)
    bad = copy.deepcopy(document)
    prospects = next(c for c in bad["dataset"][0]["collections"] if c["name"] == "prospects")
    bad["dataset"][0]["collections"].append({**copy.deepcopy(prospects), "name": "newsletter"})
    with pytest.raises(DataMapError, match=r"app\.newsletter: no purge deletes this table on its own clock"):
        parse_datamap(bad)


def test_the_pipelines_own_schema_has_its_own_clocks_and_no_other():
    """In schema retention a table is on its own clock only if a statement of the pipeline removes its
    personal data (PIPELINE_OWN_CLOCKS, with the policy key): rows deleted, or every personal column nulled.
    The rule for app is not loosened by it."""
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))

    def collection(doc, schema, name):
        dataset = next(d for d in doc["dataset"] if d["fides_key"] == schema)
        return dataset, next(c for c in dataset["collections"] if c["name"] == name)

    assert {t.name: [c.name for c in t.personal] for t in MAP.schema("retention") if t.personal} == {
        "account_batches": ["id_from", "id_to"], "batch_accounts": ["account_id", "reason"],
        "inactivity_notices": ["account_id", "notice_due_on", "anonymise_on"],
        "subject_requests": ["account_id", "prospect_email"], "restrictions": ["account_id"],
        "restricted_connection_logs": ["account_id", "occurred_at", "log_row"],
        "accounts_held_by_requests": ["account_id"]}
    requests = MAP.table("retention", "subject_requests")
    assert requests.clock == "own" and not requests.rows_deleted
    assert [c.name for c in requests.nulled] == ["account_id", "prospect_email"]
    assert MAP.table("retention", "restricted_connection_logs").rows_deleted
    assert all(t.schema == "app" for t in MAP.person_tables() + MAP.account_tables())

    bad = copy.deepcopy(document)
    dataset, requests = collection(bad, "retention", "subject_requests")
    dataset["collections"].append({**copy.deepcopy(requests), "name": "request_archive"})
    with pytest.raises(DataMapError, match=r"retention\.request_archive: no statement of the pipeline removes"):
        parse_datamap(bad)
    bad = copy.deepcopy(document)
    collection(bad, "retention", "subject_requests")[1]["retention"]["policy"] = ["prospect_retention_years"]
    with pytest.raises(DataMapError, match=r"retention\.subject_requests: no statement of the pipeline removes"):
        parse_datamap(bad)
    bad = copy.deepcopy(document)
    email = next(f for f in collection(bad, "retention", "subject_requests")[1]["fields"] if f["name"] == "prospect_email")
    email["retention"].update(treatment="keep", reason="kept for as long as we like it")
    with pytest.raises(DataMapError, match=r"retention\.subject_requests: on its own clock, its rows are deleted"):
        parse_datamap(bad)
    bad = copy.deepcopy(document)
    log_row = next(f for f in collection(bad, "retention", "restricted_connection_logs")[1]["fields"]
                   if f["name"] == "log_row")
    log_row["retention"]["treatment"] = "null"
    with pytest.raises(DataMapError, match=r"retention\.restricted_connection_logs: on its own clock"):
        parse_datamap(bad)
    # The same entry in app (or the warehouse) is refused: only the two purges there have an own clock.
    for schema in ("app", "stats"):
        bad = copy.deepcopy(document)
        moved = copy.deepcopy(collection(bad, "retention", "restricted_connection_logs")[1])
        next(d for d in bad["dataset"] if d["fides_key"] == schema)["collections"].append(moved)
        with pytest.raises(DataMapError, match=rf"{schema}\.restricted_connection_logs: no purge deletes this table"):
            parse_datamap(bad)


def test_api_for_access_packages():
    assert {t.name: t.person for t in MAP.person_tables()} == {
        "accounts": "id", "education": "account_id", "experiences": "account_id", "languages": "account_id",
        "documents": "account_id", "applications": "account_id", "assessments": "account_id",
        "messages": "sender_id", "activity_events": "account_id", "connection_logs": "account_id"}
    personal = MAP.personal_columns("app")
    assert "projects" not in personal and "anonymised_at" not in personal["accounts"]
    assert personal["connection_logs"] == ("account_id", "ip", "occurred_at", "path", "user_agent")
    assert MAP.personal_columns("stats") == {} and MAP.personal_columns("published") == {}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: f["retention"].update(derived="yes"), r"app\.accounts\.email: derived must be true or false"),
    (lambda f: f["retention"].update(derived=True), r"app\.accounts\.email: a derived column needs the reason"),
])
def test_derived_is_validated(edit, message):
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    edit(next(f for f in document["dataset"][0]["collections"][0]["fields"] if f["name"] == "email"))
    with pytest.raises(DataMapError, match=message):
        parse_datamap(document, "bad")


def test_derived_values_are_left_out_of_portability_and_keys_identify_rows():
    derived = {(t.name, c.name) for t in MAP.person_tables() for c in t.columns if c.derived}
    assert derived == {("applications", "matching_score"), ("assessments", "score"), ("accounts", "legal_hold_until")}
    assert all(c.reason for t in MAP.tables for c in t.columns if c.derived)
    assert not MAP.table("app", "applications").column("matching_score").portable
    assert MAP.table("app", "applications").column("status").portable
    assert {t.name: tuple(c.name for c in t.key_columns) for t in MAP.person_tables()}["languages"] == (
        "account_id", "language")
    assert all(t.key_columns for t in [*MAP.person_tables(), MAP.table("app", "prospects")])
    document = yaml.safe_load(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8"))
    status = next(f for c in document["dataset"][0]["collections"] if c["name"] == "applications"
                  for f in c["fields"] if f["name"] == "status")
    status["retention"].update(derived=True, reason="decided by the client of the project")
    assert not parse_datamap(document).table("app", "applications").column("status").portable


def test_rows_for_the_page_and_the_readme_section_is_generated():
    rows = MAP.rows()
    email = next(r for r in rows if (r["table"], r["column"]) == ("app.accounts", "email"))
    assert email == {"table": "app.accounts", "column": "email", "category": "identity",
                     "data_categories": "user.contact.email", "personal": True,
                     "retention": "account_inactivity_years, closed_account_grace_days", "treatment": "null"}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_section(MAP) in readme, "README's data map is stale: run `python -m retention.datamap README.md`"
    assert replace_readme_section(readme, MAP) == readme


def test_datamap_env_var_points_a_run_at_another_copy(tmp_path, monkeypatch):
    copy_path = tmp_path / "datamap.yaml"
    copy_path.write_text(DEFAULT_DATAMAP_FILE.read_text(encoding="utf-8").replace(
        "      - name: accounts\n", "      - name: accounts\n", 1), encoding="utf-8")
    monkeypatch.setenv("RETENTION_DATAMAP", str(copy_path))
    assert load_datamap().source == str(copy_path)
    monkeypatch.setenv("RETENTION_DATAMAP", str(tmp_path / "missing.yaml"))
    with pytest.raises(DataMapError, match="is missing"):
        load_datamap()
