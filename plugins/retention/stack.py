"""``make stack`` and ``make ui``: Airflow's services as a deployment runs them, from the project's .venv.

``make stack`` starts what ``docker-compose.yaml`` starts in containers, as processes of this machine:

* a PostgreSQL metadata database (``airflow_<checkout>`` on the server :mod:`retention.localpg`
  finds or starts), owned by a role ``airflow`` that is no superuser;
* Redis as the Celery broker: 127.0.0.1:6379 when one answers, else one started from the
  machine's ``redis-server`` (said so), in ``var/stack/redis``;
* ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and a Celery worker
  (``RETENTION_STACK_WORKERS`` task processes), all bound to 127.0.0.1;
* the two connections (``app_db``, ``stats_warehouse``, as the least-privilege role
  ``retention_pipeline``: the demo's databases, seeded once if missing) and the pool.

Settings and secrets come from ``.env`` (:mod:`retention.deployenv`, shared with compose). Each
service logs to ``var/stack/logs/<service>.log``; the terminal shows where to log in, never a
password. Ctrl-C (or SIGTERM) stops every service and waits for it, then prints each one's peak
memory. Two checkouts keep apart: their own metadata database, Celery queue, ports and folders.

``make ui`` is the quick look at the demo: the same services but the Celery worker, with the
demo's SQLite metadata and LocalExecutor (``var/airflow``), on http://localhost:8080.

    python -m retention.stack [--mode stack|ui] [--port 8080] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from retention.bootstrap import SIMPLE_AUTH_MANAGER_USERS, prepare_databases, set_pool, write_passwords_file
from retention.checkout import REPO_ROOT, checkout_id
from retention.proctree import free_port, port_answers, tree_hwm_kb, tree_rss_kb

# Airflow CLI arguments of each service (docker-compose.yaml runs the same commands in its containers).
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    "celery-worker": ["celery", "worker"],
}
UI_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
VAR = REPO_ROOT / "var"
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 45


def say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def venv_bin() -> Path:
    return Path(sys.executable).parent


def base_env() -> dict[str, str]:
    """What every Airflow process of ours needs (the services start `airflow` by name: .venv/bin on PATH)."""
    return {
        **os.environ,
        "PATH": f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RETENTION_SQL_DIR": str(REPO_ROOT / "sql"),
        "GX_ANALYTICS_ENABLED": "false",
    }


def airflow(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv_bin() / "airflow"), *args], env=env, check=check, capture_output=True, text=True)


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path
    peak_kb: int = 0        # the largest single process's peak (VmHWM)
    peak_total_kb: int = 0  # the service's processes together, at the busiest sample


@dataclass
class Supervisor:
    """Starts services in their own process groups, watches them, stops them all."""

    env: dict[str, str]
    log_dir: Path
    services: list[Service] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def start_airflow(self, name: str) -> Service:
        return self.start(name, [str(venv_bin() / "airflow"), *COMPONENTS[name]])

    def sample(self) -> None:
        for service in self.services:
            if service.proc.poll() is None:
                service.peak_kb = max(service.peak_kb, tree_hwm_kb(service.proc.pid))
                service.peak_total_kb = max(service.peak_total_kb, tree_rss_kb(service.proc.pid))

    def dead(self) -> list[Service]:
        return [s for s in self.services if s.proc.poll() is not None]

    def stop(self) -> None:
        self.sample()
        for service in reversed(self.services):
            _signal_group(service.proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for service in reversed(self.services):
            try:
                service.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{service.name} did not stop within {STOP_TIMEOUT_S} s: killed")
                _signal_group(service.proc, signal.SIGKILL)
                service.proc.wait()
        # A group leader's children (task processes, gunicorn/uvicorn workers) go with it.
        for service in self.services:
            _signal_group(service.proc, signal.SIGKILL)

    def report_memory(self) -> None:
        for service in self.services:
            say(f"  peak memory {service.name:<14} {service.peak_total_kb / 1024:6.0f} MB all its processes, "
                f"{service.peak_kb / 1024:6.0f} MB its largest process")


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until_healthy(url: str, supervisor: Supervisor, timeout: float = START_TIMEOUT_S) -> float:
    started = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        dead = supervisor.dead()
        if dead:
            raise SystemExit(f"{dead[0].name} exited ({dead[0].proc.returncode}) while starting; see {dead[0].log}")
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the api-server did not answer within {timeout:.0f} s; see {supervisor.log_dir}")
        supervisor.sample()
        time.sleep(1)


# -- the pieces the stack needs ---------------------------------------------------------------------

def ensure_redis(supervisor: Supervisor, root: Path, usual_port: int = 6379) -> str:
    """Broker URL: the machine's Redis on 6379 when it answers, else one started from its binaries."""
    if port_answers("127.0.0.1", usual_port):
        say(f"Redis: using the one answering on 127.0.0.1:{usual_port}")
        return f"redis://127.0.0.1:{usual_port}/0"
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(f"no Redis on 127.0.0.1:{usual_port} and no redis-server binary to start one "
                         "(install Redis, e.g. `apt-get install redis-server`)")
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    say(f"Redis: none on 127.0.0.1:{usual_port}; starting {binary} on 127.0.0.1:{port} (data in {root}, not persisted)")
    supervisor.start("redis", [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--dir", str(root)])
    deadline = time.monotonic() + 20
    while not port_answers("127.0.0.1", port):
        if time.monotonic() > deadline or supervisor.dead():
            raise SystemExit(f"redis-server did not start; see {supervisor.log_dir / 'redis.log'}")
        time.sleep(0.2)
    return f"redis://127.0.0.1:{port}/0"


def ensure_metadata_db(admin_url: str, name: str, password: str) -> str:
    """A metadata database owned by the role ``airflow`` (no superuser, password from .env), created once."""
    from urllib.parse import quote

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('gdpr_retention.stack'))")
        if conn.execute("select 1 from pg_roles where rolname = 'airflow'").fetchone() is None:
            conn.execute("create role airflow login nosuperuser nocreatedb nocreaterole")
        conn.execute(sql.SQL("alter role airflow password {}").format(sql.Literal(password)))
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("create database {} owner airflow").format(sql.Identifier(name)))
        conn.execute("select pg_advisory_unlock(hashtext('gdpr_retention.stack'))")
    params = conninfo_to_dict(admin_url)
    return (f"postgresql+psycopg2://airflow:{quote(password, safe='')}@{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', 5432)}/{name}")


def settings_from_env_file(values: dict[str, str]) -> dict[str, str]:
    """What .env gives the Airflow services (the same keys compose passes through `env_file`): Airflow's
    settings, the alerts', the packages' key and, when set, their root (any fsspec URL)."""
    passed = {k: v for k, v in values.items()
              if k.startswith(("AIRFLOW__", "RETENTION_ALERT_", "RETENTION_PACKAGE_"))}
    if values.get("AIRFLOW_CONN_SMTP_DEFAULT"):
        passed["AIRFLOW_CONN_SMTP_DEFAULT"] = values["AIRFLOW_CONN_SMTP_DEFAULT"]
    return {k: v for k, v in passed.items() if v != ""}


# -- the two modes ------------------------------------------------------------------------------------

def stack_env(args: argparse.Namespace, home: Path, broker: str, metadata_url: str, port: int,
              values: dict[str, str], app_url: str, warehouse_url: str) -> dict[str, str]:
    ident = checkout_id()
    result_backend = "db+" + metadata_url.replace("+psycopg2", "")
    return {
        **base_env(),
        **settings_from_env_file(values),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(args.workers),
        # Our own queue: another checkout's workers on the same Redis never take our tasks.
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": args.queue or f"retention_{ident}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": SIMPLE_AUTH_MANAGER_USERS,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW_CONN_APP_DB": app_url,
        "AIRFLOW_CONN_STATS_WAREHOUSE": warehouse_url,
        "RETENTION_DATA_DOCS_DIR": str(home.parent / "data_docs"),
    }


def pipeline_urls(args: argparse.Namespace, admin_url: str, password: str) -> tuple[str, str]:
    """The two connections as ``retention_pipeline``: the given databases, else the demo's (seeded once),
    prepared as compose's airflow-init prepares them (roles on both, the pipeline's password)."""
    from psycopg.conninfo import make_conninfo

    from retention.demo import db_url, ensure_demo_databases
    from retention.roles import PIPELINE_ROLE

    if args.app_db and args.warehouse_db:
        app_db, warehouse_db = args.app_db, args.warehouse_db
    else:
        app_db, warehouse_db = ensure_demo_databases(admin_url)
    prepare_databases(make_conninfo(admin_url, dbname=app_db), make_conninfo(admin_url, dbname=warehouse_db), password)
    return (db_url(admin_url, app_db, PIPELINE_ROLE, password), db_url(admin_url, warehouse_db, PIPELINE_ROLE, password))


def prepare_metadata(env: dict[str, str]) -> None:
    airflow("db", "migrate", env=env)
    set_pool(env)


def run(args: argparse.Namespace) -> int:
    from retention.deployenv import ensure_env_file
    from retention.localpg import ensure_postgres

    started = time.monotonic()
    root = Path(args.root) if args.root else VAR / ("stack" if args.mode == "stack" else "ui")
    port = args.port
    if not port_free(port):
        raise SystemExit(f"port {port} is taken on 127.0.0.1: choose another with --port (make {args.mode} PORT=...)")
    admin_url = ensure_postgres(VAR / "pg")
    supervisor = Supervisor(env={}, log_dir=root / "logs")
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if args.mode == "stack":
            values = ensure_env_file(Path(args.env_file))
            home = root / "airflow"
            home.mkdir(parents=True, exist_ok=True)
            broker = ensure_redis(supervisor, root / "redis")
            metadata_url = ensure_metadata_db(admin_url, args.metadata_db or f"airflow_{checkout_id()}",
                                              values["AIRFLOW_DB_PASSWORD"])
            app_url, warehouse_url = pipeline_urls(args, admin_url, values["RETENTION_DB_PASSWORD"])
            env = stack_env(args, home, broker, metadata_url, port, values, app_url, warehouse_url)
            write_passwords_file(home / "passwords.json", values["AIRFLOW_ADMIN_PASSWORD"])
            names = list(COMPONENTS)
            login = f"user admin, password: AIRFLOW_ADMIN_PASSWORD in {args.env_file}"
        else:
            from retention.checkout import demo_databases
            from retention.demo import airflow_env, db_url
            from retention.roles import PIPELINE_ROLE

            app_db, warehouse_db = demo_databases()
            env = {**airflow_env(db_url(admin_url, app_db, PIPELINE_ROLE), db_url(admin_url, warehouse_db, PIPELINE_ROLE)),
                   **base_env(),
                   "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                   "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                   "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
                   "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
                   "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                   "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
            env["AIRFLOW_HOME"] = str(VAR / "airflow")
            names = list(UI_COMPONENTS)
            login = ("user admin, password in "
                     f"{Path(env['AIRFLOW_HOME']) / 'simple_auth_manager_passwords.json.generated'}")
        supervisor.env = env
        say("preparing Airflow's metadata database (migrate, pool)")
        prepare_metadata(env)
        say(f"starting {', '.join(names)} (logs in {supervisor.log_dir})")
        for name in names:
            supervisor.start_airflow(name)
        answered = wait_until_healthy(f"http://127.0.0.1:{port}/api/v2/monitor/health", supervisor)
        say(f"Airflow answers on http://localhost:{port} after {time.monotonic() - started:.0f} s "
            f"(api-server up {answered:.0f} s after start); {login}")
        say("unpause gdpr_retention (and gdpr_retention_watchdog) to let the schedule run; Ctrl-C stops everything")
        while stopping["signal"] is None:
            dead = supervisor.dead()
            if dead:
                say(f"{dead[0].name} exited ({dead[0].proc.returncode}); see {dead[0].log}. Stopping the rest.")
                return 1
            supervisor.sample()
            time.sleep(2)
        return 0
    finally:
        say("stopping every service")
        supervisor.stop()
        supervisor.report_memory()
        say("stopped")


def port_free(port: int) -> bool:
    return not port_answers("127.0.0.1", port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("stack", "ui"), default="stack")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=None, help="Celery task processes (default from .env)")
    parser.add_argument("--root", help="folder for logs, Airflow home and Redis (default var/stack)")
    parser.add_argument("--env-file", default=str(REPO_ROOT / ".env"))
    parser.add_argument("--metadata-db", help="metadata database name (default airflow_<checkout>)")
    parser.add_argument("--app-db", help="application database (default: the demo's)")
    parser.add_argument("--warehouse-db", help="warehouse database (default: the demo's)")
    parser.add_argument("--queue", help="Celery queue (default retention_<checkout>)")
    args = parser.parse_args(argv)
    if args.workers is None:
        from retention.deployenv import read_env_file

        env_file = Path(args.env_file)
        configured = read_env_file(env_file).get("RETENTION_STACK_WORKERS") if env_file.exists() else None
        args.workers = int(configured or 2)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
