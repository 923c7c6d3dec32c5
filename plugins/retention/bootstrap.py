"""One-shot set-up of a deployment, run by an administrator before the Airflow services start.

``docker compose`` runs it in ``airflow-init`` (after ``airflow db migrate``); ``make stack`` can run the
same steps. Every step is idempotent, so it runs again at every start:

1. the application database: schema ``app`` from sql/app/schema.sql when it is missing (a reference
   database, as in compose; an existing platform schema is left alone), created by the administrator,
   so the pipeline never owns ``app``;
2. the roles of sql/roles/*.sql on both servers (``retention_pipeline``: no superuser; ``analyst``);
3. the password of ``retention_pipeline``, on both servers (they may be two PostgreSQL clusters);
4. the Airflow pool ``retention_app_db`` (``--pool``);
5. the SimpleAuthManager passwords file with the UI user ``admin`` (``--passwords-file``).

Secrets are read from the environment, never from the command line (``ps`` shows arguments):
``POSTGRES_ADMIN_PASSWORD`` (administrator of both servers, optional with trust authentication),
``RETENTION_DB_PASSWORD`` and ``AIRFLOW_ADMIN_PASSWORD`` (the keys of ``.env``, see
:mod:`retention.deployenv`).

    python -m retention.bootstrap --app-admin postgresql://postgres@app-db/app \\
        --warehouse-admin postgresql://postgres@warehouse-db/warehouse \\
        --pool --passwords-file /opt/airflow/auth/passwords.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from retention.roles import PIPELINE_ROLE, apply_roles

POOL_NAME = "retention_app_db"
POOL_SLOTS = 2
POOL_DESCRIPTION = "gdpr_retention: sessions on the application database"
UI_USER = "admin"
# SimpleAuthManager's `[core] simple_auth_manager_users`: the one UI user and its role.
SIMPLE_AUTH_MANAGER_USERS = f"{UI_USER}:admin"


def _say(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def _with_password(conninfo: str, password: str | None) -> str:
    return make_conninfo(conninfo, password=password) if password else conninfo


def app_schema_exists(app_admin: str) -> bool:
    with psycopg.connect(app_admin, autocommit=True) as conn:
        return conn.execute("select to_regnamespace('app') is not null").fetchone()[0]


def set_role_password(admin_conninfo: str, role: str, password: str) -> None:
    # ALTER ROLE takes no bound parameters: the password is quoted as a literal by psycopg.
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("alter role {} with login password {}").format(sql.Identifier(role),
                                                                              sql.Literal(password)))


def prepare_databases(app_admin: str, warehouse_admin: str, pipeline_password: str) -> None:
    """Steps 1-3: the reference schema if missing, the roles on both servers, the pipeline's password."""
    if not pipeline_password:
        raise ValueError("the pipeline's password is empty: run `make env` (RETENTION_DB_PASSWORD)")
    if app_schema_exists(app_admin):
        _say("schema app exists: left as it is")
    else:
        from retention.appschema import create_app_schema

        create_app_schema(app_admin)
        _say("schema app created from sql/app/schema.sql (owner: the administrator)")
    apply_roles(app_admin, warehouse_admin)
    for conninfo in (app_admin, warehouse_admin):
        set_role_password(conninfo, PIPELINE_ROLE, pipeline_password)
    _say(f"roles applied on both servers ({PIPELINE_ROLE}: no superuser, analyst); {PIPELINE_ROLE}'s password set")


def airflow_executable() -> str:
    """The ``airflow`` beside this interpreter (a venv not on PATH), else the one on PATH (the image)."""
    beside = Path(sys.executable).with_name("airflow")
    if beside.is_file():
        return str(beside)
    found = shutil.which("airflow")
    if found is None:
        raise FileNotFoundError("no `airflow` executable beside the interpreter nor on PATH")
    return found


def set_pool(env: dict[str, str] | None = None) -> None:
    """Step 4: the pool capping the pipeline's sessions on the application database (created or resized)."""
    subprocess.run([airflow_executable(), "pools", "set", POOL_NAME, str(POOL_SLOTS), POOL_DESCRIPTION],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    _say(f"pool {POOL_NAME} = {POOL_SLOTS} slots")


def write_passwords_file(path: Path, password: str) -> None:
    """Step 5: ``{"admin": password}`` for SimpleAuthManager, mode 0600, replaced atomically.

    The api-server opens the file read-write (it adds generated passwords for users missing from
    it), so it must belong to the uid the api-server runs as: compose chowns it after this step.
    """
    if not password:
        raise ValueError("the UI password is empty: run `make env` (AIRFLOW_ADMIN_PASSWORD)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({UI_USER: password}) + "\n")
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    _say(f"UI user '{UI_USER}' written to {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retention.bootstrap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app-admin", help="administrator conninfo/URL of the application database")
    parser.add_argument("--warehouse-admin", help="administrator conninfo/URL of the warehouse database")
    parser.add_argument("--pool", action="store_true", help=f"create or resize the Airflow pool {POOL_NAME}")
    parser.add_argument("--passwords-file", type=Path, help="write SimpleAuthManager's passwords file here")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.app_admin) != bool(args.warehouse_admin):
        parser.error("--app-admin and --warehouse-admin go together")
    if not (args.app_admin or args.pool or args.passwords_file):
        parser.error("nothing to do: give --app-admin/--warehouse-admin, --pool and/or --passwords-file")
    if args.app_admin:
        admin_password = os.environ.get("POSTGRES_ADMIN_PASSWORD")
        prepare_databases(_with_password(args.app_admin, admin_password),
                          _with_password(args.warehouse_admin, admin_password),
                          os.environ.get("RETENTION_DB_PASSWORD", ""))
    if args.pool:
        set_pool()
    if args.passwords_file:
        write_passwords_file(args.passwords_file, os.environ.get("AIRFLOW_ADMIN_PASSWORD", ""))


if __name__ == "__main__":
    main()
