"""Access and portability packages (issue 19): one encrypted file per request, deleted after its period.

``build_packages`` answers every access and portability request in progress (identity verified),
set-based: one streamed query per table of the data map for all of the run's requests (rows
spooled per request to a private temporary folder, each line encrypted under a key that lives in the
task's process only), then, per request, a zip written into memory:

* access: ``data.json`` (one document: ``schema_version``, request id, as_of, ``tables`` -> rows with
  every personal column of the map plus the row's key, ``files`` -> table, column, name, sha256,
  size and path inside the package), ``csv/<table>.csv`` and ``summary.md`` (purposes, recipients,
  sources and rights from ``notice.yaml``; retention per category from ``policy.yaml`` through the
  map's policy keys; the complaint route);
* portability: ``data.json`` only, without the columns the map marks ``derived``;
* both: ``files/...``, the bytes of the stored files the map attributes to the person.

The zip is encrypted with Fernet under ``RETENTION_PACKAGE_KEY`` (never written in clear), written
under a temporary name beside its final one and moved into place (``<root>/<request_id>.zip.fernet``,
the root being ``RETENTION_PACKAGE_ROOT``, any fsspec URL, default ``var/packages``), then the
requests are set fulfilled with their counts, the package's sha256 and size, and their receipts,
in one transaction. A rerun after a crash overwrites the same name: one complete package.
``delete_expired_packages`` deletes them after ``request_package_retention_days``.

The DPO decrypts one with ``python -m retention.requests.package decrypt <package-url> <out-dir>``.
Logs carry request ids and counts only; the location is built from the random request id only.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retention.db import run_sql
from retention.mapsql import ident
from retention.sqlfiles import load_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from retention.datamap import Column, DataMap, Table
    from retention.notice import Notice
    from retention.policy import Policy
    from retention.window import RunWindow

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
KEY_ENV = "RETENTION_PACKAGE_KEY"
ROOT_ENV = "RETENTION_PACKAGE_ROOT"
SUFFIX = ".zip.fernet"
DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "var" / "packages"
# Requests recorded per transaction (their packages are written first; a crash rewrites them).
RECORD_EVERY = 50
STREAM_ROWS = 1000


class PackageKeyMissing(RuntimeError):
    """No encryption key: no package is written (never in clear)."""


def fernet() -> Any:
    from cryptography.fernet import Fernet

    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise PackageKeyMissing(f"{KEY_ENV} is not set: access and portability packages are encrypted with it "
                                "and none is written without it (make env generates one in .env)")
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        raise PackageKeyMissing(f"{KEY_ENV} is not a Fernet key (32 url-safe base64-encoded bytes)") from None


def package_root() -> str:
    return (os.environ.get(ROOT_ENV) or "").strip() or DEFAULT_ROOT.as_uri()


def _path(url: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)


# -- what goes in -------------------------------------------------------------------------------

def package_columns(table: Table, portability: bool = False) -> tuple[Column, ...]:
    """The row's key, then every personal column of the map (portability: not the derived ones)."""
    chosen = [c for c in table.columns
              if c in table.key_columns or (c.portable if portability else c.personal)]
    return tuple(chosen)


def table_statement(table: Table) -> str:
    """One statement for all of the run's account requests of one table (identifiers quoted, values bound)."""
    person = ident(table.person or "")
    columns = ", ".join(f"x.{ident(c.name)}" for c in package_columns(table))
    order = ", ".join(f"x.{ident(c.name)}" for c in table.key_columns) or "1"
    return (f"select r.request_id, {columns}\n"
            f"from {ident(table.schema, table.name)} as x\n"
            f"join unnest(cast(:account_ids as bigint[]), cast(:request_ids as text[])) as r(account_id, request_id)\n"
            f"    on x.{person} = r.account_id\n"
            f"where x.{person} = any(cast(:account_ids as bigint[]))\n"
            f"order by r.request_id, {order}")


def prospect_statement(datamap: DataMap) -> str:
    columns = ", ".join(f"x.{ident(c.name)}" for c in package_columns(datamap.table("app", "prospects")))
    return load_sql("requests/select_package_prospects").replace("{prospect_columns}", columns)


def plain(value: Any) -> Any:
    """A value as JSON and CSV hold it (dates ISO-8601, numerics exact as text, addresses as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def _spool(app: Engine, statement: str, params: dict[str, Any], table: Table, folder: Path, spool_key: Any) -> None:
    """Stream one table's rows for every request into ``<folder>/<request_id>/<table>.jsonl``, each line
    encrypted under a key that lives in this process only (a killed worker leaves no readable row)."""
    from sqlalchemy import text

    names = [c.name for c in package_columns(table)]
    current, out = None, None
    try:
        with app.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(text(statement), params)
            for row in result:
                if row[0] != current:
                    if out is not None:
                        out.close()
                    current = row[0]
                    (folder / current).mkdir(exist_ok=True)
                    out = open(folder / current / f"{table.name}.jsonl", "ab")  # noqa: SIM115
                line = json.dumps(dict(zip(names, (plain(v) for v in row[1:]), strict=True)), ensure_ascii=False)
                out.write(spool_key.encrypt(line.encode()) + b"\n")
    finally:
        if out is not None:
            out.close()


def _rows(folder: Path, table: Table, spool_key: Any) -> list[dict[str, Any]]:
    path = folder / f"{table.name}.jsonl"
    if not path.exists():
        return []
    with open(path, "rb") as lines:
        return [json.loads(spool_key.decrypt(line.rstrip(b"\n"))) for line in lines]


# -- the package --------------------------------------------------------------------------------

def _read_file(uri: str) -> bytes:
    from retention.storage import local_path

    path = local_path(uri)  # RefusedLocation for another host or a relative path
    if path is not None:
        with open(path, "rb") as stored:
            return stored.read()
    return _path(uri).read_bytes()


def _csv(rows: list[dict[str, Any]], names: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(n) is None else row[n] for n in names])
    return out.getvalue().encode("utf-8")


def _period(key: str, value: Any) -> str:
    for suffix, unit in (("_years", "year"), ("_days", "day")):
        if key.endswith(suffix):
            return f"{value} {unit}{'' if value == 1 else 's'}"
    return str(value)


def summary(request: dict[str, Any], tables: list[Table], counts: dict[str, int], notice: Notice,
            policy: Policy, as_of: datetime) -> str:
    """The readable summary that goes with an access copy (GDPR art. 15(1) and (2)), in Markdown."""
    subject = notice.subjects["prospect" if request["account_id"] is None else "member"]
    categories: dict[str, set[str]] = {}
    for t in tables:
        for c in t.personal:
            categories.setdefault(c.category, set()).update(t.policy)
    values = policy.values()
    from zoneinfo import ZoneInfo

    made_on = as_of.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    lines = [f"# Your personal data: copy of {made_on}", "",
             f"Request `{request['request_id']}` ({request['request_type']}), data as of {as_of.isoformat()}.", "",
             "This package holds `data.json` (all your data in one document), `csv/` (one file per table) and "
             "`files/` (the documents you gave us, as stored).", "",
             "## What we hold", "", "| table | rows | what it is |", "|---|---|---|"]
    lines += [f"| {t.name} | {counts.get(t.name, 0)} | {t.description} |" for t in tables]
    lines += ["", f"Files: {counts.get('files', 0)}.", "", "## Controller", "", notice.controller, "",
              "## Why we process it (purposes and legal bases)", ""]
    lines += [f"- {purpose} {basis}" for purpose, basis in subject.purposes]
    lines += ["", "## Who receives it", ""] + [f"- {r}" for r in subject.recipients]
    lines += ["", "## Where it comes from, and how long we keep it", ""]
    for category in sorted(categories):
        lines.append(f"- **{category}**: {subject.sources.get(category, 'the platform')}")
        for key in sorted(categories[category]):
            lines.append(f"  - kept: {_period(key, values[key])} ({key}): {policy.bases[key]}")
    days = policy.request_package_retention_days
    lines += [f"- **this copy**: {policy.bases['request_package_retention_days']} ({days} days)", "",
              "## Your rights", ""]
    lines += [f"- **{name.replace('_', '-')}**: {text}" for name, text in notice.rights.items()]
    lines += ["", "## Complaint", "", notice.complaint, ""]
    return "\n".join(lines)


def build_zip(request: dict[str, Any], folder: Path, tables: list[Table], notice: Notice, policy: Policy,
              as_of: datetime, spool_key: Any) -> tuple[bytes, dict[str, int]]:
    """The package of one request (a zip in memory) and its counts (rows per table, files)."""
    portability = request["request_type"] == "portability"
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "request_id": request["request_id"],
                                "request_type": request["request_type"], "as_of": as_of.isoformat(),
                                "tables": {}, "files": []}
    counts: dict[str, int] = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for t in tables:
            names = [c.name for c in package_columns(t, portability)]
            rows = [{n: row.get(n) for n in names} for row in _rows(folder, t, spool_key)]
            document["tables"][t.name] = rows
            counts[t.name] = len(rows)
            if not portability:
                zf.writestr(f"csv/{t.name}.csv", _csv(rows, names))
            for row in rows:
                key = "-".join(str(row.get(c.name)) for c in t.key_columns) or str(counts[t.name])
                for column in t.file_columns:
                    uri = row.get(column.name)
                    if not uri:
                        continue
                    entry = {"table": t.name, "column": column.name, "row": key,
                             "name": os.path.basename(str(uri).rstrip("/")) or "file"}
                    error = None
                    try:
                        content = _read_file(str(uri))
                    except Exception as exc:  # noqa: BLE001 - an unreadable file is listed, not fatal
                        error = type(exc).__name__
                    if error is not None:
                        entry["missing"] = error
                        counts["files_missing"] = counts.get("files_missing", 0) + 1
                    else:
                        entry["path"] = f"files/{t.name}/{key}/{column.name}/{entry['name']}"
                        entry["sha256"] = hashlib.sha256(content).hexdigest()
                        entry["size"] = len(content)
                        zf.writestr(entry["path"], content)
                        counts["files"] = counts.get("files", 0) + 1
                    document["files"].append(entry)
        counts.setdefault("files", 0)
        zf.writestr("data.json", json.dumps(document, ensure_ascii=False, indent=1))
        if not portability:
            zf.writestr("summary.md", summary(request, tables, counts, notice, policy, as_of))
    return buffer.getvalue(), counts


def write_package(root: str, request_id: str, token: bytes) -> str:
    """Write ``token`` as ``<root>/<request_id>.zip.fernet``: a temporary name first, then moved into
    place (a crash leaves at most a ``.part`` file, removed by the next attempt). Returns the URI."""
    folder = _path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(f".{request_id}.*.part"):
        leftover.unlink()
    temporary = folder / f".{request_id}.{uuid.uuid4().hex}.part"
    final = folder / f"{request_id}{SUFFIX}"
    temporary.write_bytes(token)
    from retention.faults import checkpoint

    checkpoint("package.before_move")
    temporary.move(final)
    return str(final)


def _record(app: Engine, window: RunWindow, policy: Policy, run_id: str, built: list[dict[str, Any]]) -> int:
    from retention.requests.process import _receipts

    with app.begin() as conn:
        fulfilled = run_sql(conn, "requests/record_request_packages", as_of=window.as_of,
                            retention_days=policy.request_package_retention_days,
                            packages=json.dumps(built)).rowcount
        _receipts(conn, window, run_id)
    return fulfilled


def build_packages(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Answer every access and portability request in progress with its encrypted package."""
    from sqlalchemy import text

    from retention.datamap import load_datamap
    from retention.notice import load_notice

    started = time.monotonic()
    datamap, notice, root = load_datamap(), load_notice(), package_root()
    with app.begin() as conn:
        requests = [dict(r) for r in run_sql(conn, "requests/select_package_requests").mappings()]
        # Before anything is read: no key, nothing done (rolled back: the requests stay as they were).
        cipher = fernet() if requests else None
    result: dict[str, Any] = {"requests": len(requests), "fulfilled": 0, "rows": 0, "files": 0, "bytes": 0}
    if not requests:
        log.info("packages: %s", result)
        return result
    accounts = [r for r in requests if r["account_id"] is not None]
    prospects = [r for r in requests if r["account_id"] is None]
    from cryptography.fernet import Fernet

    spool_key = Fernet(Fernet.generate_key())
    folder = Path(tempfile.mkdtemp(prefix="retention-packages-"))
    try:
        if accounts:
            params = {"account_ids": [r["account_id"] for r in accounts],
                      "request_ids": [r["request_id"] for r in accounts]}
            for t in datamap.person_tables():
                _spool(app, table_statement(t), params, t, folder, spool_key)
        if prospects:
            _spool(app, prospect_statement(datamap), {"request_ids": [r["request_id"] for r in prospects]},
                   datamap.table("app", "prospects"), folder, spool_key)
        built: list[dict[str, Any]] = []
        slowest = 0.0
        for request in requests:
            one = time.monotonic()
            tables = list(datamap.person_tables()) if request["account_id"] is not None \
                else [datamap.table("app", "prospects")]
            content, counts = build_zip(request, folder / request["request_id"], tables, notice, policy, window.as_of,
                                        spool_key)
            token = cipher.encrypt(content)  # type: ignore[union-attr]
            uri = write_package(root, request["request_id"], token)
            built.append({"request_id": request["request_id"], "uri": uri, "sha256": hashlib.sha256(token).hexdigest(),
                          "bytes": len(token), "counts": counts})
            seconds = time.monotonic() - one
            slowest = max(slowest, seconds)
            log.info("package built: request %s (%s), %d rows, %d files, %d bytes, %.3f seconds",
                     request["request_id"], request["request_type"],
                     sum(v for k, v in counts.items() if not k.startswith("files")), counts["files"], len(token),
                     seconds)
            result["rows"] += sum(v for k, v in counts.items() if not k.startswith("files"))
            result["files"] += counts["files"]
            result["bytes"] += len(token)
            if len(built) >= RECORD_EVERY:
                result["fulfilled"] += _record(app, window, policy, run_id, built)
                built = []
        if built:
            result["fulfilled"] += _record(app, window, policy, run_id, built)
    except Exception as exc:
        # Recorded so that a request that keeps failing shows why once it is set to failed.
        with app.begin() as conn:
            conn.execute(text("update retention.subject_requests set last_error_class = :c, "
                              "updated_at = clock_timestamp() "
                              "where request_id = any(cast(:r as text[])) and state = 'in_progress'"),
                         {"c": type(exc).__name__, "r": [r["request_id"] for r in requests]})
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - started, 3)
    result["slowest_package_seconds"] = round(slowest, 3)
    log.info("packages: %s", result)
    return result


def delete_expired(app: Engine, window: RunWindow) -> dict[str, int]:
    """Delete every package past its retention; an already-missing file is fine (recorded the same)."""
    with app.connect() as conn:
        expired = run_sql(conn, "requests/select_expired_packages", as_of=window.as_of).all()
    deleted, already_gone, done = 0, 0, []
    for request_id, uri in expired:
        try:
            _path(uri).unlink()
            deleted += 1
        except FileNotFoundError:
            already_gone += 1
        done.append(request_id)
    if done:
        with app.begin() as conn:
            run_sql(conn, "requests/update_deleted_packages", as_of=window.as_of, request_ids=done)
    result = {"deleted": deleted, "already_gone": already_gone}
    log.info("expired packages: %s", result)
    return result


# -- the DPO's side -----------------------------------------------------------------------------

def decrypt(url: str, out_dir: str | os.PathLike[str]) -> list[str]:
    """Decrypt the package at ``url`` with ``RETENTION_PACKAGE_KEY`` and extract it into ``out_dir``."""
    from cryptography.fernet import InvalidToken

    try:
        content = fernet().decrypt(_path(url).read_bytes())
    except InvalidToken:
        raise SystemExit(f"the package cannot be decrypted with this {KEY_ENV} (wrong key or damaged file)") from None
    target = Path(out_dir).resolve()
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        names = zf.namelist()
        for name in names:
            if not (target / name).resolve().is_relative_to(target):
                raise SystemExit(f"refused: {name} would land outside {target}")
        zf.extractall(target)
    return names


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m retention.requests.package", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("decrypt", help=f"decrypt a package (key: {KEY_ENV}) into a folder")
    one.add_argument("url", help="the package's location (retention.subject_requests.package_uri)")
    one.add_argument("out_dir")
    args = parser.parse_args(argv)
    names = decrypt(args.url, args.out_dir)
    print(f"{len(names)} file(s) extracted into {args.out_dir}")


if __name__ == "__main__":
    main()
