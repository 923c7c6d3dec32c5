"""Access and portability packages through the real gdpr_subject_requests DAG on real PostgreSQL:
every personal column of the data map and the stored files of the person, nothing of anyone else,
portability without derived values, encryption (no key: nothing written), deletion after the
policy's period (Paris date), one complete package and one receipt after a crash."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from dagrun import run_dag
from platform_fixture import make_platform
from retention.datamap import load_datamap

pytestmark = pytest.mark.integration

REQUESTS_DAG = "gdpr_subject_requests"
AS_OF = "2026-06-15T00:00:00+00:00"
REPO_ROOT = Path(__file__).resolve().parents[2]
MAP = load_datamap()
# Distinctive per member: every personal text column holds "<label>-<table>-<column>".
ALICE, BRUNO = "zorblaxalice", "quixmoorbruno"


def value_for(label: str, column, *, account: int | None, other: int | None, project: int, files: Path):
    """A distinctive value for a personal column of the map, by its type."""
    if column.name == "email":
        return f"{label}-{column.table}@example.org"
    if column.name == "storage_uri":
        path = files / f"{label}-cv.pdf"
        path.write_bytes(f"%PDF-1.4 stored file of {label}".encode())
        return path.as_uri()
    if column.name == "recipient_id":
        return other
    if column.name == "project_id":
        return project
    kind = column.type
    if kind == "text":
        return f"{label}-{column.table}-{column.name}"
    if kind.startswith("character"):
        return "QZ" if label == ALICE else "XJ"
    if kind == "bigint":
        return account
    if kind == "integer":
        return 1987
    if kind.startswith("numeric"):
        return 87.25
    if kind == "boolean":
        return True
    if kind == "date":
        return date(2026, 12, 31) if column.name.endswith("_until") else date(2001, 2, 3)
    if kind.startswith("timestamp"):
        return datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
    if kind == "inet":
        return "192.0.2.77" if label == ALICE else "198.51.100.9"
    raise AssertionError(f"no seed value for {column.qualified} ({kind}): extend the test")


def seed_member(p, c, label: str, *, other: int | None, project: int, files: Path) -> int:
    """One row in every person table of the map, every personal column filled (the map decides)."""
    accounts = MAP.accounts
    cols = {col.name: value_for(label, col, account=None, other=other, project=project, files=files)
            for col in accounts.personal if col.name != "id"}
    account = p.add_account(c, **cols)
    for t in MAP.person_tables():
        if t.name == "accounts":
            continue
        row = {col.name: value_for(label, col, account=account, other=other, project=project, files=files)
               for col in t.personal}
        p.add(c, t.name, **row)
    return account


def request(p, request_type, *, account_id=None, prospect_email=None):
    return p.scalar(
        "insert into retention.subject_requests (request_type, account_id, prospect_email, received_at, "
        "identity_verified_at) values (%s, %s, %s, '2026-06-01T09:00:00+00:00', '2026-06-02T09:00:00+00:00') "
        "returning request_id", (request_type, account_id, prospect_email))


def package_env(root: Path, key: str | None) -> dict[str, str]:
    env = {"RETENTION_PACKAGE_ROOT": root.as_uri()}
    if key is not None:
        env["RETENTION_PACKAGE_KEY"] = key
    return env


def run(p, env, as_of=AS_OF):
    return run_dag(p, as_of=as_of, dry_run=None, dag_id=REQUESTS_DAG, extra_env=env)


def decrypted(uri: str, key: str, out: Path) -> dict[str, bytes]:
    """The package's files, decrypted by the DPO's command (a real subprocess)."""
    env = {**os.environ, "RETENTION_PACKAGE_KEY": key, "PYTHONPATH": str(REPO_ROOT / "plugins")}
    subprocess.run([sys.executable, "-m", "retention.requests.package", "decrypt", uri, str(out)],
                   check=True, env=env, capture_output=True, cwd=REPO_ROOT)
    return {str(f.relative_to(out)): f.read_bytes() for f in out.rglob("*") if f.is_file()}


def task_logs(capfd, caplog) -> str:
    captured = capfd.readouterr()
    text = captured.out + captured.err + caplog.text
    caplog.clear()
    return text


def personal_texts(label: str) -> list[str]:
    return [f"{label}-{t.name}-{c.name}" for t in [*MAP.person_tables(), MAP.table("app", "prospects")]
            for c in t.personal if c.type == "text"] + [label]


@pytest.fixture
def platform(databases, tmp_path):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)  # migrates the owned schema
    files = tmp_path / "stored"
    files.mkdir()
    with p.app() as c:
        project = c.execute("insert into app.projects (client_name, title) values ('Acme', 'Annotation') "
                            "returning id").fetchone()[0]
        alice = seed_member(p, c, ALICE, other=None, project=project, files=files)
        bruno = seed_member(p, c, BRUNO, other=alice, project=project, files=files)
        c.execute("update app.messages set recipient_id = %s where sender_id = %s", (bruno, alice))
        for label, email in ((ALICE, "Prospect-Zorblax@Example.com"), (BRUNO, "other-prospect@example.com")):
            p.add(c, "prospects", **{col.name: (email if col.name == "email" else value_for(
                label, col, account=None, other=None, project=project, files=files))
                for col in MAP.table("app", "prospects").personal})
    p.alice, p.bruno = alice, bruno
    return p


def test_packages_hold_every_personal_column_and_file_of_the_person_and_nothing_else(platform, tmp_path,
                                                                                     capfd, caplog):
    p, key, root = platform, Fernet.generate_key().decode(), tmp_path / "packages"
    r_access = request(p, "access", account_id=p.alice)
    r_port = request(p, "portability", account_id=p.alice)
    r_bruno = request(p, "access", account_id=p.bruno)
    r_prospect = request(p, "access", prospect_email=" prospect-zorblax@example.com")
    # A restriction does not block access.
    p.scalar("insert into retention.restrictions values (%s, 'x', %s) returning 1", (p.alice, AS_OF))
    task_logs(capfd, caplog)

    outcome = run(p, package_env(root, key))
    assert outcome.state == "success", outcome.task_states
    logs = task_logs(capfd, caplog)

    rows = {r[0]: r[1:] for r in p.rows(
        "select request_id, state, package_uri, package_sha256, package_bytes, package_expires_on, result_counts "
        "from retention.subject_requests where request_type in ('access', 'portability')")}
    assert {r: v[0] for r, v in rows.items()} == dict.fromkeys((r_access, r_port, r_bruno, r_prospect), "fulfilled")
    receipts = {r[0]: r[1:] for r in p.rows("select request_id, state, package_sha256, package_bytes, counts "
                                            "from retention.request_receipts")}
    for request_id, (_, uri, sha256, size, expires_on, counts) in rows.items():
        assert uri == (root / f"{request_id}.zip.fernet").as_uri()  # named by the random request id only
        token = (root / f"{request_id}.zip.fernet").read_bytes()
        assert hashlib.sha256(token).hexdigest() == sha256 and len(token) == size
        assert b"zorblax" not in token.lower() and b"%PDF" not in token  # encrypted at rest
        assert expires_on == date(2026, 7, 15)
        assert receipts[request_id] == ("fulfilled", sha256, size, counts)
    assert sorted(f.name for f in root.iterdir()) == sorted(f"{r}.zip.fernet" for r in rows)

    # Access: every personal column of the map, with the seeded value; the file's bytes; CSV; summary.
    access = decrypted(rows[r_access][1], key, tmp_path / "access")
    document = json.loads(access["data.json"])
    assert document["schema_version"] == 1 and document["request_id"] == r_access
    for t in MAP.person_tables():
        assert len(document["tables"][t.name]) == 1, t.name
        row = document["tables"][t.name][0]
        for c in t.personal:
            assert c.name in row and row[c.name] is not None, c.qualified
            if c.type == "text" and c.name not in ("email", "storage_uri"):
                assert row[c.name] == f"{ALICE}-{t.name}-{c.name}", c.qualified
        for c in t.key_columns:
            assert c.name in row, c.qualified
        assert f"csv/{t.name}.csv" in access
        header = access[f"csv/{t.name}.csv"].decode().splitlines()[0].split(",")
        assert set(header) >= {c.name for c in t.personal}
    assert document["tables"]["accounts"][0]["id"] == p.alice
    (entry,) = document["files"]
    stored = f"%PDF-1.4 stored file of {ALICE}".encode()
    assert (entry["table"], entry["column"], entry["name"]) == ("documents", "storage_uri", f"{ALICE}-cv.pdf")
    assert access[entry["path"]] == stored and entry["sha256"] == hashlib.sha256(stored).hexdigest()
    assert entry["size"] == len(stored)
    assert rows[r_access][5] == {**{t.name: 1 for t in MAP.person_tables()}, "files": 1}
    text = access["summary.md"].decode()
    for needle in ("www.cnil.fr/plaintes", "3 place de Fontenoy", "TSA 80715", "75334 Paris Cedex 07",
                   "rectification", "portability", "restriction", "objection", "post-mortem", "erasure",
                   "5 years", "1 year", "30 days"):
        assert needle in text, needle
    from retention.policy import load_policy

    bases = load_policy().bases
    for key_name in {k for t in MAP.person_tables() for k in t.policy}:
        assert bases[key_name] in text, key_name

    # Nothing of the other member anywhere (his message to Alice included), and the reverse.
    for label, files in ((BRUNO, access), (ALICE, decrypted(rows[r_bruno][1], key, tmp_path / "bruno"))):
        blob = b"\n".join(files.values())
        for secret in personal_texts(label):
            assert secret.encode() not in blob, secret
    assert f"{BRUNO}-messages-body".encode() not in access["data.json"]

    # Portability: JSON only (and the person's files), no derived column.
    port = decrypted(rows[r_port][1], key, tmp_path / "port")
    assert set(port) == {"data.json", entry["path"]}
    document = json.loads(port["data.json"])
    derived = [(t.name, c.name) for t in MAP.person_tables() for c in t.personal if c.derived]
    assert ("applications", "matching_score") in derived
    for t in MAP.person_tables():
        row = document["tables"][t.name][0]
        for c in t.personal:
            assert (c.name in row) == (not c.derived), c.qualified

    # A prospect: the rows with that e-mail, whatever the case and spaces; not the other prospect.
    prospect = json.loads(decrypted(rows[r_prospect][1], key, tmp_path / "prospect")["data.json"])
    assert [r["email"] for r in prospect["tables"]["prospects"]] == ["Prospect-Zorblax@Example.com"]
    assert list(prospect["tables"]) == ["prospects"] and prospect["files"] == []

    # Logs, XCom and receipts: request ids and counts, never a value (nor the location).
    assert "package built:" in logs and "seconds" in logs
    haystacks = (logs, json.dumps(outcome.xcoms, default=str),
                 json.dumps(p.rows("select * from retention.request_receipts"), default=str))
    for haystack in haystacks:
        for secret in [*personal_texts(ALICE), *personal_texts(BRUNO), "Zorblax", str(root)]:
            assert secret not in haystack, secret
    built = next(x for x in outcome.xcoms if isinstance(x, dict) and "slowest_package_seconds" in x)
    assert built["fulfilled"] == 4 and built["files"] == 3  # Alice twice, Bruno once

    # A rerun does nothing more.
    fingerprint = p.scalar("select md5(string_agg(t::text, '|' order by t::text)) from retention.request_receipts t")
    assert run(p, package_env(root, key)).state == "success"
    assert p.scalar("select md5(string_agg(t::text, '|' order by t::text)) "
                    "from retention.request_receipts t") == fingerprint
    assert len(list(root.iterdir())) == 4


def test_package_is_deleted_after_its_period_not_before(platform, tmp_path):
    p, key, root = platform, Fernet.generate_key().decode(), tmp_path / "packages"
    r = request(p, "access", account_id=p.alice)
    r_gone = request(p, "portability", account_id=p.alice)
    assert run(p, package_env(root, key)).state == "success"
    receipts = p.rows("select * from retention.request_receipts order by request_id")
    path = root / f"{r}.zip.fernet"
    (root / f"{r_gone}.zip.fernet").unlink()  # already gone: fine, recorded all the same

    # Expires on 15 July: kept through that day in Paris, deleted once the Paris date is the 16th.
    kept = run(p, package_env(root, None), as_of="2026-07-15T21:30:00+00:00")  # 23:30 in Paris, 15 July
    assert kept.state_of("delete_expired_packages") == "skipped", kept.task_states  # a quiet run
    assert path.exists()
    gone = run(p, package_env(root, None), as_of="2026-07-15T22:30:00+00:00")  # 00:30 in Paris, 16 July
    assert gone.state_of("delete_expired_packages") == "success", gone.task_states
    assert not path.exists()
    deleted = next(x for x in gone.xcoms if isinstance(x, dict) and "already_gone" in x)
    assert deleted == {"deleted": 1, "already_gone": 1}
    assert p.rows("select request_id, package_deleted_at from retention.subject_requests "
                  "where package_uri is not null order by request_id") == [
        (x, datetime(2026, 7, 15, 22, 30, tzinfo=timezone.utc)) for x in sorted((r, r_gone))]
    assert p.rows("select * from retention.request_receipts order by request_id") == receipts
    # Nothing left to do: the next run is quiet again.
    assert run(p, package_env(root, None), as_of="2026-07-20T00:00:00+00:00").state_of(
        "delete_expired_packages") == "skipped"


def test_no_package_without_the_key(platform, tmp_path, capfd, caplog, monkeypatch):
    monkeypatch.delenv("RETENTION_PACKAGE_KEY", raising=False)
    p, root = platform, tmp_path / "packages"
    r = request(p, "access", account_id=p.alice)
    task_logs(capfd, caplog)
    outcome = run(p, package_env(root, None))
    assert outcome.state_of("build_requested_packages") == "failed", outcome.task_states
    assert "RETENTION_PACKAGE_KEY is not set" in task_logs(capfd, caplog)
    assert p.rows("select state, attempts, package_uri from retention.subject_requests where request_id = %s",
                  (r,)) == [("in_progress", 0, None)]
    assert not root.exists() or not any(root.iterdir())
    assert p.scalar("select count(*) from retention.request_receipts") == 0


def test_a_crash_mid_package_then_a_rerun_leaves_one_complete_package_and_one_receipt(platform, tmp_path):
    p, key, root = platform, Fernet.generate_key().decode(), tmp_path / "packages"
    r = request(p, "access", account_id=p.alice)
    crashed = run(p, {**package_env(root, key), "RETENTION_FAULT_POINT": "package.before_move"})
    assert crashed.state_of("build_requested_packages") == "failed", crashed.task_states
    assert [f.name for f in root.iterdir()] != [] and all(f.name.endswith(".part") for f in root.iterdir())
    assert p.rows("select state, package_uri from retention.subject_requests where request_id = %s", (r,)) == [
        ("in_progress", None)]

    assert run(p, package_env(root, key)).state == "success"
    assert [f.name for f in root.iterdir()] == [f"{r}.zip.fernet"]
    assert p.scalar("select count(*) from retention.request_receipts where request_id = %s", (r,)) == 1
    files = decrypted(p.scalar("select package_uri from retention.subject_requests where request_id = %s", (r,)),
                      key, tmp_path / "out")
    assert json.loads(files["data.json"])["tables"]["accounts"][0]["id"] == p.alice
    assert p.scalar("select package_sha256 from retention.request_receipts where request_id = %s", (r,)) == \
        hashlib.sha256((root / f"{r}.zip.fernet").read_bytes()).hexdigest()
