"""Garbled-but-allowed application data through the accounts stage, on real PostgreSQL.

The application's schema lets a lot through; the pipeline must neither crash on it forever, nor
leak it, nor touch what it must not. Defined behaviour for each kind of garbled value:

| garbled value | behaviour |
|---|---|
| e-mail without @, any unicode, quotes, backslashes, ``'; drop table``, RTL marks, emoji, 5,000 chars | bound, never spliced: scrubbed like any e-mail |
| birth date in the future, in 1900, year 1, BC, +-infinity, 5874897 AD | age band ``unknown`` (ages outside 15-99, or dates age() cannot take) |
| postal code not French (letters, 4 digits, empty, ``2A004``, spaces) | region ``unknown``; a country code other than FR (any case) is ``abroad`` |
| country code odd (``fr``, ``F``, blank, quote) | ``fr`` counts as FR; anything else non-NULL is ``abroad`` |
| unknown feature, education level, language, CEFR level, assessment code, score out of 0-100 | ``other`` / ``unknown`` (reviewed vocabularies and code patterns only) |
| NULL timestamps where nullable | NULL month cell ("unknown month"); NULL activity never makes an account active |
| timestamps far in the future (9999), infinity, BC, beyond year 9999 | never make an account eligible; a month Python cannot hold (BC, infinity, > 9999) is a NULL month cell |
| duplicate languages differing by case (``FR`` and ``fr``) | one language, the member counted once per (language, level) cell |
| stored-file URI that is relative, names another host, or an unknown store | never resolved locally: the document row is kept, listed in retention.pending_file_deletions, finalize stops with a count |
| stored-file URI of a file already gone | fine: counted as handled, the row goes |

Invariants checked for every generated population: every account eligible before the run (the
pipeline's own definition) is anonymised with no personal column and no child row (documents
pending deletion excepted), every other account is byte-identical, the warehouse reconciles with
what was deleted (members = anonymised accounts, events = events deleted, applications =
applications deleted), every warehouse text is in a reviewed vocabulary, and no generated free
text reaches the warehouse.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_fixture import CHILD_TABLES, PERSONAL_COLUMNS, Platform, make_platform, rows_md5
from retention import accounts
from retention.db import make_engine
from retention.mapsql import map_sql
from retention.migrate import migrate_app, migrate_warehouse
from retention.policy import load_policy
from retention.sqlfiles import load_sql
from retention.warehouse import STATS_TABLES
from retention.window import RunWindow

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"

NASTY = ["", " ", "'", "''", '"', "\\", "\\'", "'; drop table app.accounts; --", "Robert'); DROP TABLE students;--",
         "%s", "%(as_of)s", ":as_of", "{eligible}", "{relation}", "$1", "$$", "\u202eevil\u202c", "\u200f\u200e",
         "😀🔥", "𝕬𝖇𝖈", "NULL", "null", "é" * 200, "x" * 5000, "\t\n\r", "<script>alert(1)</script>",
         "ｆｕｌｌｗｉｄｔｈ", "jean.dupont.gmail.com", "+33 6 12 34 56 78", "192.168.1.10", "https://evil.example/x"]
TEXT = st.one_of(st.sampled_from(NASTY),
                 st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30))
OPT_TEXT = st.none() | TEXT
TIMESTAMPS = ["2015-01-01T00:00:00+00:00", "2019-05-05T10:00:00+00:00", "1900-01-01T00:00:00+00:00",
              "0044-03-15 00:00:00+00 BC", "-infinity", "infinity", "9999-12-31T23:59:59+00:00",
              "12000-01-01 00:00:00+00", "2026-06-15T00:00:00+00:00", "2026-06-15T00:00:01+00:00",
              "2021-06-14T23:59:59+00:00", "2024-02-29T12:00:00+01:00"]
OPT_TS = st.none() | st.sampled_from(TIMESTAMPS)
DATES = ["1985-03-02", "1900-01-01", "2090-01-01", "0001-01-01", "4713-01-01 BC", "infinity", "-infinity",
         "5874897-12-31", "2026-06-15", "2026-06-14", "2011-06-15"]
OPT_DATE = st.none() | st.sampled_from(DATES)


@dataclass
class Garbled:
    account: dict
    education: list
    experiences: list
    languages: list
    documents: list
    applications: list
    assessments: list
    events: list
    messages: list


# Eligibility comes from the reason columns; the garbled timestamps above go everywhere else too.
REASONS = {
    "closed": {"closed_at": "2026-01-01T00:00:00+00:00"},
    "inactive": {"last_login_at": "2019-01-01T00:00:00+00:00"},
    "deceased": {"deceased_reported_at": "2026-02-01T00:00:00+00:00"},
    "active": {"last_login_at": "2026-06-01T00:00:00+00:00"},
    "hold": {"closed_at": "2026-01-01T00:00:00+00:00", "legal_hold_until": "2027-01-01"},
    "garbled": {},
}


@st.composite
def garbled_members(draw) -> Garbled:
    account = {
        "email": draw(OPT_TEXT), "first_name": draw(OPT_TEXT), "last_name": draw(OPT_TEXT), "phone": draw(OPT_TEXT),
        "address_line": draw(OPT_TEXT), "city": draw(OPT_TEXT), "linkedin_url": draw(OPT_TEXT),
        "availability": draw(OPT_TEXT),
        "postal_code": draw(st.none() | st.sampled_from(["75011", " 75011 ", "2A004", "97411", "9741", "ABCDE", "7501",
                                                          "", "75 011", "00000", "99999"]) | TEXT),
        "country_code": draw(st.none() | st.sampled_from(["FR", "fr", "Fr", " F", "  ", "", "ZZ", "'", "é"])
                             | st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                                       max_size=2)),
        "nationality": draw(st.none() | st.text(alphabet=st.characters(exclude_categories=("Cs",),
                                                                        exclude_characters="\x00"), max_size=2)),
        "birth_date": draw(OPT_DATE),
        "work_authorisation": draw(st.none() | st.booleans()),
        "created_at": draw(st.sampled_from(TIMESTAMPS)),
        "last_login_at": draw(OPT_TS),
        "closed_at": draw(OPT_TS),
        "deceased_reported_at": draw(OPT_TS),
        "post_mortem_retain_until": draw(OPT_DATE),
        "legal_hold_until": draw(OPT_DATE),
    }
    reason = draw(st.sampled_from(sorted(REASONS)))
    if reason != "garbled":  # a clear reason (or none) for most members; the garbled ones keep theirs
        account.update({"legal_hold_until": None, "post_mortem_retain_until": None, **REASONS[reason]})
    lang = st.one_of(st.sampled_from(["fr", "FR", "Fr", " fr", "fr ", "français", "f", "", "zz", "en", "EN", "'; --",
                                      "😀"]), TEXT)
    level = st.none() | st.sampled_from(["A1", "a1", " C2 ", "native", "Natif", "langue maternelle", "", "Z9"]) | TEXT
    return Garbled(
        account=account,
        education=draw(st.lists(st.tuples(OPT_TEXT, OPT_TEXT, st.none() | st.sampled_from(
            ["master", "MASTER ", " bac+2", "bac + 2", "doctorat", "PhD", ""]) | TEXT, OPT_TEXT,
            st.none() | st.sampled_from([-5, 0, 1900, 2100, 99999])), max_size=2)),
        experiences=draw(st.lists(st.tuples(OPT_TEXT, OPT_TEXT, st.none() | st.booleans(), OPT_DATE, OPT_DATE, OPT_TEXT),
                                  max_size=5)),
        languages=draw(st.lists(st.tuples(lang, level), max_size=4, unique_by=lambda t: t[0])),
        documents=draw(st.lists(st.tuples(OPT_TEXT, st.none() | st.sampled_from(
            ["missing", "relative", "otherhost", "s3"])), max_size=2)),
        applications=draw(st.lists(st.tuples(st.sampled_from(["published", "unpublished", "future"]), OPT_TS,
                                             st.none() | st.sampled_from([-999.99, 0, 50.5, 100, 999.99]), OPT_TEXT),
                                   max_size=3)),
        assessments=draw(st.lists(st.tuples(st.none() | st.sampled_from(
            ["ANNOT-TXT", "annot-img", " QCM ", "x", "", "ANNOT-TXT-1-2-3-4"]) | TEXT,
            st.none() | st.sampled_from([-1, 0, 100, 100.01, 999.99, 55.5]), OPT_TS), max_size=2)),
        events=draw(st.lists(st.tuples(st.none() | st.sampled_from(
            ["login", "LOGIN", "apply ", "unknown.feature", "secret@x.example", ""]) | TEXT, OPT_TS), max_size=4)),
        messages=draw(st.lists(st.tuples(OPT_TEXT, OPT_TS), max_size=2)),
    )


# --------------------------------------------------------------------------------------------------


@dataclass
class Stage:
    p: Platform
    app: object
    wh: object
    docs: Path

    def reset(self) -> None:
        with self.p.app() as c:
            c.execute("truncate app.messages, app.activity_events, app.assessments, app.applications, app.documents, "
                      "app.languages, app.experiences, app.education, app.accounts, app.projects restart identity")
            c.execute("truncate retention.account_batches, retention.pending_file_deletions, retention.rule_audit, "
                      "retention.inactivity_notices")
        stats = [f"stats.{t.name}" for t in STATS_TABLES]
        with self.p.warehouse() as c:
            c.execute(f"truncate {', '.join(stats)}, stats.pending_cells, stats.applied_batches")

    def seed(self, members: list[Garbled]) -> dict[str, list]:
        """Insert the population; returns every free-text value that went in, and the document files."""
        texts: list[str] = []
        files: list[Path] = []
        with self.p.app() as c:
            projects = {}
            for kind, published in (("published", "2015-01-01"), ("unpublished", None), ("future", "2027-01-01")):
                projects[kind] = c.execute("insert into app.projects (client_name, title, published_at) "
                                           "values ('Client', 'Project', %s) returning id", (published,)).fetchone()[0]
            ids = []
            for n, m in enumerate(members):
                account = dict(m.account)
                if account["email"] is not None:
                    account["email"] = f"{account['email']}#{n}"  # the unique index on e-mail
                ids.append(self.p.add_account(c, **account))
                texts += [v for k, v in account.items() if isinstance(v, str) and k not in (
                    "created_at", "last_login_at", "closed_at", "deceased_reported_at", "birth_date",
                    "post_mortem_retain_until", "legal_hold_until")]
            for a, m in zip(ids, members, strict=True):
                for school, specialty, level, diploma, year in m.education:
                    self.p.add(c, "education", account_id=a, school=school, specialty=specialty, level=level,
                               diploma=diploma, graduation_year=year)
                    texts += [school, specialty, level, diploma]
                for title, company, annotation, started, ended, description in m.experiences:
                    self.p.add(c, "experiences", account_id=a, title=title, company=company, is_annotation=annotation,
                               started_on=started, ended_on=ended, description=description)
                    texts += [title, company, description]
                for language, level in m.languages:
                    self.p.add(c, "languages", account_id=a, language=language, level=level)
                    texts += [language, level]
                for kind, where in m.documents:
                    uri = None
                    if where == "missing":
                        uri = (self.docs / "Gone Été" / f"{a}.pdf").as_uri()
                    elif where == "relative":
                        uri = f"{a}.pdf"
                        (Path.cwd() / uri).write_bytes(b"canary")
                        files.append(Path.cwd() / uri)
                    elif where == "otherhost":
                        path = self.docs / f"host-{a}.pdf"
                        path.write_bytes(b"canary")
                        files.append(path)
                        uri = f"file://fileserver{path}"
                    elif where == "s3":
                        uri = f"s3://bucket/{a}.pdf"
                    self.p.add(c, "documents", account_id=a, kind=kind, storage_uri=uri)
                    texts += [kind]
                for project, applied, score, status in m.applications:
                    self.p.add(c, "applications", account_id=a, project_id=projects[project], applied_at=applied,
                               matching_score=score, status=status)
                    texts += [status]
                for code, score, completed in m.assessments:
                    self.p.add(c, "assessments", account_id=a, assessment_code=code, score=score, completed_at=completed)
                    texts += [code]
                for feature, occurred in m.events:
                    self.p.add(c, "activity_events", account_id=a, feature=feature, occurred_at=occurred)
                    texts += [feature]
                for n, (body, sent) in enumerate(m.messages):
                    c.execute("insert into app.messages (sender_id, recipient_id, body, sent_at) values (%s, %s, %s, %s)",
                              (a, ids[(ids.index(a) + n + 1) % len(ids)], body, sent))
                    texts += [body]
        return {"ids": ids, "texts": [t for t in texts if t is not None], "canaries": files}



def vocabulary(p: Platform) -> dict[str, set[str]]:
    return {
        "region": {r for (r,) in p.rows("select region from retention.department_regions")} | {"unknown", "abroad"},
        "education_level": {r for (r,) in p.rows("select level from retention.education_levels")} | {"other", "none"},
        "feature": {r for (r,) in p.rows("select feature from retention.known_features")} | {"other"},
    }


CODE = re.compile(r"^[A-Z]{2,12}(-[A-Z0-9]{1,12}){0,3}$")  # the reviewed pattern of assessment codes
BAND = re.compile(r"^\d{1,2}-\d{1,3}$")


def warehouse_texts(p: Platform) -> dict[str, set[str]]:
    columns = {"anonymised_cohorts": ("reason", "age_band", "region", "education_level"),
               "feature_usage_monthly": ("feature",), "language_levels": ("language", "level"),
               "assessment_results": ("assessment_code", "score_band"),
               "experience_profiles": ("reason", "annotation_experience", "experience_band")}
    out: dict[str, set[str]] = {}
    for table, cols in columns.items():
        for col in cols:
            out.setdefault(col, set()).update(v for (v,) in p.rows(f"select {col} from stats.{table}", db="wh"))
    return out


def run_stage(stage: Stage) -> dict:
    """plan -> every batch -> finalize -> inactivity notices, as the DAG chains them (gates aside)."""
    policy = load_policy()
    window = RunWindow.build(AS_OF, policy)
    planned = accounts.plan(stage.app, window, policy, "garbled")
    batches = [accounts.process_batch(stage.app, stage.wh, window, policy, b["plan_id"], b["batch_no"])
               for b in planned["batches"]]
    final = accounts.finalize(stage.app, stage.wh, window, "garbled", planned)
    # finalize reports undeletable files by count; the run's report turns that count into a failure.
    failure = (f"{final['files_pending']} stored document(s) of anonymised accounts could not be deleted"
               if final["files_pending"] else None)
    notices = accounts.refresh_inactivity_notices(stage.app, window, policy)
    return {"planned": planned, "batches": batches, "final": final, "failure": failure, "notices": notices}


def check_invariants(stage: Stage, seeded: dict, eligible: set[int], kept_md5: str, counts_before: dict,
                     outcome: dict) -> None:
    p = stage.p
    ids = seeded["ids"]
    kept = [a for a in ids if a not in eligible]
    gone = sorted(eligible)

    anonymised = {a for (a,) in p.rows("select id from app.accounts where anonymised_at is not null")}
    assert anonymised == eligible
    for column in PERSONAL_COLUMNS:
        assert p.scalar(f"select count(*) from app.accounts where id = any(%s) and {column} is not null",
                        (gone,)) == 0, column
    for table in CHILD_TABLES:
        extra = " and id not in (select document_id from retention.pending_file_deletions)" if table == "documents" else ""
        assert p.scalar(f"select count(*) from app.{table} where account_id = any(%s){extra}", (gone,)) == 0, table
    assert p.scalar("select count(*) from app.messages where sender_id = any(%s) and body is not null", (gone,)) == 0
    assert rows_md5(p, kept) == kept_md5, "accounts that were not eligible are byte-identical"
    # Each batch verified its own tombstones after its commit (the time is the benchmark's "checks").
    assert all(b["leftovers"] == 0 and 0 < b["verify_seconds"] < b["seconds"] for b in outcome["batches"])

    pending = p.scalar("select count(*) from retention.pending_file_deletions")
    assert (outcome["failure"] is not None) == (pending > 0)
    if pending:
        assert outcome["failure"].startswith(f"{pending} stored document(s) of anonymised accounts could not be deleted")
    assert all(f.exists() for f in seeded["canaries"]), "no file outside the store's own URI was deleted"

    removed = {t: counts_before[t] - p.scalar(f"select count(*) from app.{t}") for t in CHILD_TABLES}
    members = p.scalar("select coalesce(sum(members), 0) from stats.anonymised_cohorts", db="wh")
    events = p.scalar("select coalesce(sum(events), 0) from stats.feature_usage_monthly", db="wh")
    applications = p.scalar("select coalesce(sum(applications), 0) from stats.project_applications_monthly", db="wh")
    assert (members, events, applications) == (len(gone), removed["activity_events"], removed["applications"])
    assert p.scalar("select coalesce(sum(members), 0) from stats.experience_profiles", db="wh") == len(gone)
    assert p.scalar("select coalesce(sum(results), 0) from stats.assessment_results", db="wh") == removed["assessments"]
    ledger = p.rows(load_sql("quality/sum_ledger_removals"))[0]
    assert tuple(int(v) for v in ledger) == (len(gone), removed["activity_events"], removed["applications"])
    with stage.app.connect() as conn:
        from sqlalchemy import text

        window = RunWindow.build(AS_OF, load_policy())
        assert conn.execute(text(map_sql("quality/find_unscrubbed_tombstones")),
                            {**window.params(), **accounts.ALL_IDS}).all() == []
    assert p.rows(map_sql("quality/find_identifying_text_in_warehouse"), db="wh") == []

    vocab = vocabulary(p)
    texts = warehouse_texts(p)
    assert texts["reason"] <= {"deceased", "closed", "inactive"}
    assert all(v == "unknown" or BAND.match(v) for v in texts["age_band"]), texts["age_band"]
    assert texts["region"] <= vocab["region"] and texts["education_level"] <= vocab["education_level"]
    assert texts["feature"] <= vocab["feature"]
    assert all(v == "unknown" or re.match(r"^[a-z]{2}$", v) for v in texts["language"]), texts["language"]
    assert texts["level"] <= {"A1", "A2", "B1", "B2", "C1", "C2", "native", "unknown"}
    assert all(v == "other" or CODE.match(v) for v in texts["assessment_code"]), texts["assessment_code"]
    assert all(v == "unknown" or v == "90-100" or BAND.match(v) for v in texts["score_band"])
    assert texts["annotation_experience"] <= {"yes", "no"}
    assert texts["experience_band"] <= {"0", "1", "2-3", "4+"}
    # Free text never reaches the warehouse, nor what tasks return (XCom): only reviewed vocabularies
    # and values that match a reviewed code pattern (2-letter language codes, assessment codes) do.
    reviewed = {v.lower() for v in set().union(*vocab.values(), {
        "unknown", "other", "yes", "no", "0", "1", "2-3", "4+", "90-100", "deceased", "closed", "inactive", "native",
        "a1", "a2", "b1", "b2", "c1", "c2"})}
    stored = set().union(*texts.values())
    returned = "\n".join(_string_values(outcome))
    for value in seeded["texts"]:
        normalised = value.strip()
        if (len(normalised) < 3 or normalised.lower() in reviewed or CODE.match(normalised.upper())
                or BAND.match(normalised)):
            continue
        assert value not in stored and normalised not in stored, value
        if len(normalised) >= 10 or (value in NASTY and len(normalised) >= 6):
            assert normalised not in returned, value


def _string_values(value) -> Iterator[str]:
    """Every string a task would return (XCom), keys aside."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _string_values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _string_values(v)
    elif value is not None and not isinstance(value, (int, float, bool)):
        yield str(value)


@pytest.fixture
def stage(databases, tmp_path, monkeypatch) -> Iterator[Stage]:
    # Relative document paths must never be resolved against the worker's directory: run in an empty
    # one that holds canaries under those names.
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    p = make_platform(databases)
    app, wh = make_engine(p.pipeline_app_url), make_engine(p.pipeline_warehouse_url)
    migrate_app(app)
    migrate_warehouse(wh, load_policy())
    docs = tmp_path / "docs"
    docs.mkdir()
    try:
        yield Stage(p, app, wh, docs)
    finally:
        app.dispose()
        wh.dispose()


def eligible_now(stage: Stage) -> set[int]:
    """The pipeline's own definition, before the run: whom it must anonymise tonight."""
    window = RunWindow.build(AS_OF, load_policy())
    params = {**window.params(), **accounts.ALL_IDS}
    with stage.app.connect() as conn:
        from sqlalchemy import text

        return {a for (a,) in conn.execute(text(f"select id from ({load_sql('accounts/select_eligible_accounts')}) as e"),
                                           params)}


def test_garbled_populations_keep_every_invariant(stage):
    """Hypothesis generates populations of 1-6 members with garbled values in every column (see the
    module docstring for each case's defined behaviour); each runs through plan, every batch,
    finalize and the inactivity notices, then every invariant is checked."""

    seen: Counter[str] = Counter()

    @settings(max_examples=20, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(st.lists(garbled_members(), min_size=1, max_size=6))
    def check(members: list[Garbled]) -> None:
        stage.reset()
        seeded = stage.seed(members)
        eligible = eligible_now(stage)
        kept_md5 = rows_md5(stage.p, [a for a in seeded["ids"] if a not in eligible])
        counts_before = {t: stage.p.scalar(f"select count(*) from app.{t}") for t in CHILD_TABLES}
        outcome = run_stage(stage)
        check_invariants(stage, seeded, eligible, kept_md5, counts_before, outcome)
        seen.update(examples=1, with_anonymised=bool(eligible), with_kept=len(eligible) < len(seeded["ids"]),
                    with_files_kept_for_retry=bool(outcome["failure"]))

    check()
    # Not vacuous: the examples anonymised members, kept others, and kept stored files for a retry.
    assert seen["with_anonymised"] >= 5 and seen["with_kept"] >= 5 and seen["with_files_kept_for_retry"] >= 1, seen


def test_every_garbled_case_at_once(stage):
    """One deterministic population holding every garbled case of the table above, so that each is
    exercised whatever Hypothesis draws."""
    base = {k: None for k in ("email", "first_name", "last_name", "phone", "address_line", "city", "linkedin_url",
                              "availability", "postal_code", "country_code", "nationality", "birth_date",
                              "work_authorisation", "last_login_at", "closed_at", "deceased_reported_at",
                              "post_mortem_retain_until", "legal_hold_until")}
    members = []
    for n, (birth, postal, country, stamp) in enumerate([
        ("-infinity", "ABCDE", "fr", "infinity"),
        ("5874897-12-31", "7501", "  ", "0044-03-15 00:00:00+00 BC"),
        ("4713-01-01 BC", "", "'", "12000-01-01 00:00:00+00"),
        ("2090-01-01", "2A004", "ZZ", None),
        ("1900-01-01", " 75011 ", "Fr", "9999-12-31T23:59:59+00:00"),
    ]):
        account = {**base, "email": f"no-at-sign{n}.example", "first_name": "Robert'); DROP TABLE students;--",
                   "last_name": "\u202eRTL\u202c 😀", "city": "\\'", "birth_date": birth, "postal_code": postal,
                   "country_code": country, "created_at": "-infinity" if n % 2 else "2015-01-01T00:00:00+00:00",
                   "last_login_at": stamp, **REASONS["closed"]}
        members.append(Garbled(
            account=account,
            education=[("Lycée ''", None, "MASTER ", "{eligible}", 99999), (None, None, "PhD", None, None)],
            experiences=[("'; --", "$$", None, "infinity", "4713-01-01 BC", "%s")] * 5,
            languages=[("FR", "native"), ("fr", "Natif"), ("français", "Z9"), ("EN", " c1 ")],
            documents=[("cv", "missing"), ("id", None)],
            applications=[("published", stamp, 999.99, "'"), ("unpublished", None, -999.99, None),
                          ("future", "2019-01-01T00:00:00+00:00", 50.5, "ok")],
            assessments=[("annot-img", 100.01, stamp), ("JOHN'S TEST", -1, None)],
            events=[("login", stamp), ("secret@x.example", None), (None, "2019-01-01T00:00:00+00:00")],
            messages=[("'; drop table app.accounts; --", stamp)],
        ))
    # Kept: a legal hold, and a member whose last login is dated infinity (never inactive).
    members.append(Garbled({**base, "email": "hold", "created_at": "2015-01-01T00:00:00+00:00", **REASONS["hold"]},
                           [], [], [("FR", "a1"), ("fr", "A1")], [], [], [], [], []))
    members.append(Garbled({**base, "email": "forever", "created_at": "2015-01-01T00:00:00+00:00",
                            "last_login_at": "infinity"}, [], [], [], [], [], [], [], []))
    # Inactive since -infinity (created then, never logged in): eligible.
    members.append(Garbled({**base, "email": "ancient", "created_at": "-infinity"}, [], [], [], [], [], [], [],
                           [("'", "-infinity")]))
    # Stored-file URIs never resolved locally: relative, another host, an unknown store.
    members.append(Garbled({**base, "email": "uris", "created_at": "2015-01-01T00:00:00+00:00", **REASONS["closed"]},
                           [], [], [], [("cv", "relative"), ("cv", "otherhost"), ("cv", "s3")], [], [], [], []))

    seeded = stage.seed(members)
    eligible = eligible_now(stage)
    assert eligible == {seeded["ids"][i] for i in (0, 1, 2, 3, 4, 7, 8)}
    kept_md5 = rows_md5(stage.p, [a for a in seeded["ids"] if a not in eligible])
    counts_before = {t: stage.p.scalar(f"select count(*) from app.{t}") for t in CHILD_TABLES}
    outcome = run_stage(stage)
    check_invariants(stage, seeded, eligible, kept_md5, counts_before, outcome)

    p = stage.p
    assert outcome["failure"].startswith("3 stored document(s)"), outcome["failure"]
    assert p.scalar("select count(*) from stats.anonymised_cohorts where age_band <> 'unknown'", db="wh") == 0
    assert p.scalar("select count(*) from stats.feature_usage_monthly where month is null", db="wh") >= 1
    assert p.scalar("select count(*) from stats.project_applications_monthly where month is null", db="wh") >= 1
    assert p.scalar("select members from stats.language_levels where language = 'fr' and level = 'native'",
                    db="wh") == 5, "FR and fr: one language, each member once"
    assert set(r for (r,) in p.rows("select region from stats.anonymised_cohorts", db="wh")) <= {"unknown", "abroad",
                                                                                                   "Île-de-France"}
