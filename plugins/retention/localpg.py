"""Find or start a PostgreSQL server for the tests, the demo and the benchmark.

``ensure_postgres(root)`` returns an admin libpq URL (superuser ``postgres``, database ``postgres``)
of a usable server, trying in order:

1. ``$RETENTION_PG_URL`` when set: it must connect, otherwise :class:`PostgresUnavailable` is raised
   (no silent fallback: a developer who points at a server wants that server).
2. ``postgresql://postgres@127.0.0.1:5432/postgres`` (a 2 s connect timeout; a refused port fails at once).
3. A throwaway cluster under ``root`` (a git-ignored folder such as ``var/pg``), started from

   * ``$RETENTION_PG_BINDIR`` when set (a directory holding ``initdb``, ``pg_ctl`` and ``postgres``;
     the value ``embedded`` forces the embedded package below), else
   * the machine's binaries: ``pg_ctl``/``initdb`` found in ``PATH`` (symlinks resolved), then
     ``/usr/lib/postgresql/<version>/bin`` (highest version first), ``/usr/local/pgsql/bin``;
   * when the machine has none, the embedded PostgreSQL of the PyPI package ``pgserver``
     (PostgreSQL 16 binaries inside a wheel, Linux x86_64/aarch64 and macOS), installed on demand
     into the current interpreter with ``python -m pip install 'pgserver>=0.1.4,<0.2'``.
     Only its binaries are used (``pgserver/pginstall/bin``); its Python API is not, because it
     serves on a Unix socket only and stops the server when the creating process exits.
     Checked on Debian 12 / Python 3.11 as root: the wheel installs (about 34 MB) and initdb,
     pg_ctl and postgres from it run. Set ``RETENTION_PG_NO_INSTALL=1`` to forbid the pip install
     (then a machine without binaries gets a clear error instead).

The cluster in ``root``::

    root/data/          PGDATA (initdb -U postgres --auth=trust -E UTF8 --no-locale)
    root/run/           Unix socket directory and postgres.log
    root/port           the TCP port it listens on (127.0.0.1 only)
    root/bindir         the binaries it was created with
    root/.lock          serialises concurrent callers (flock)

It listens on 127.0.0.1 only, on ``$RETENTION_PG_PORT``/the ``port`` argument, else the port recorded
in ``root/port``, else the first free port from 55432 upwards. Every local connection is trusted
(throwaway data only), and durability is switched off (``fsync=off``) for speed. The server is left
running: a later call (from any process) reuses it, starting it again if it was stopped.
:func:`stop_postgres` stops it; deleting ``root`` afterwards throws the cluster away.

``initdb`` and ``pg_ctl`` refuse to run as root. When this process is root they run as an
unprivileged user: the owner of an existing ``root/data``, else ``$RETENTION_PG_OS_USER``, else the
``postgres`` system user, else ``nobody``. The data and run directories are chowned to that user, and
``o+x`` (traverse only, never read) is added to any parent directory that user could not traverse
(for example pytest's ``/tmp/pytest-of-root``, which is 0700).

POSIX only (flock, setuid); the project targets Linux.

CLI: ``python -m retention.localpg [--root var/pg] [--stop] [--no-default]`` prints the admin URL.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import importlib
import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_PORT = 55432
EMBEDDED_REQUIREMENT = "pgserver>=0.1.4,<0.2"
ENV_URL = "RETENTION_PG_URL"
ENV_BINDIR = "RETENTION_PG_BINDIR"
ENV_PORT = "RETENTION_PG_PORT"
ENV_OS_USER = "RETENTION_PG_OS_USER"
ENV_NO_INSTALL = "RETENTION_PG_NO_INSTALL"
ENV_SKIP_DEFAULT = "RETENTION_PG_SKIP_DEFAULT"
REPO_ROOT = Path(__file__).resolve().parents[2]
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; keep a margin for ".s.PGSQL.NNNNN.lock"


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server could be found or started; the message says why."""


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    major: int
    source: str

    def exe(self, name: str) -> str:
        return str(self.bindir / name)


# ---------------------------------------------------------------------------------------------------
# public API


def ensure_postgres(
    root: Path | str,
    *,
    probe_default: bool = True,
    port: int | None = None,
    bindir: Path | str | None = None,
    timeout: float = 60.0,
    allow_install: bool | None = None,
) -> str:
    """Admin URL of a usable PostgreSQL server (see the module docstring for the order tried).

    ``probe_default=False`` (or ``RETENTION_PG_SKIP_DEFAULT=1``) skips 127.0.0.1:5432 and goes
    straight to the throwaway cluster in ``root``. ``port``, ``bindir`` and ``allow_install``
    override ``RETENTION_PG_PORT``, ``RETENTION_PG_BINDIR`` and ``RETENTION_PG_NO_INSTALL``.
    """
    env_url = os.environ.get(ENV_URL, "").strip()
    if env_url:
        error = _connect_error(env_url, connect_timeout=5)
        if error is not None:
            raise PostgresUnavailable(f"{ENV_URL} is set ({_redact(env_url)}) but does not connect: {error}")
        return env_url

    notes: list[str] = []
    if probe_default and not _truthy(os.environ.get(ENV_SKIP_DEFAULT)):
        error = _probe_default()
        if error is None:
            return DEFAULT_URL
        notes.append(f"{DEFAULT_URL}: {error}")

    if port is None and os.environ.get(ENV_PORT):
        port = int(os.environ[ENV_PORT])
    if bindir is None and os.environ.get(ENV_BINDIR):
        bindir = os.environ[ENV_BINDIR]
    if allow_install is None:
        allow_install = not _truthy(os.environ.get(ENV_NO_INSTALL))
    try:
        return _ensure_cluster(Path(root), port=port, bindir=bindir, timeout=timeout, allow_install=allow_install)
    except PostgresUnavailable as exc:
        if notes:
            raise PostgresUnavailable(f"{exc}\n(also tried {'; '.join(notes)})") from exc
        raise


def stop_postgres(root: Path | str, timeout: float = 30.0) -> bool:
    """Stop the throwaway cluster in ``root`` (fast shutdown). True if one was running."""
    root = Path(root).resolve()
    data = root / "data"
    if not data.exists():
        return False
    with _locked(root):
        pid = _postmaster_pid(data)
        if pid is None:
            return False
        os.kill(pid, signal.SIGINT)  # what `pg_ctl stop -m fast` sends
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.1)
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown
        time.sleep(1)
        if _alive(pid):
            raise PostgresUnavailable(f"postgres (pid {pid}) in {data} did not stop within {timeout:.0f} s")
        return True


def admin_url_for_port(port: int, dbname: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"


# ---------------------------------------------------------------------------------------------------
# paths 1 and 2


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _connect_error(url: str, connect_timeout: int = 2) -> str | None:
    """None if ``url`` connects and answers ``select 1``, else a one-line reason."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=connect_timeout, autocommit=True) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any failure means "not usable"
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _probe_default() -> str | None:
    # A plain TCP connect first: fails in microseconds when nothing listens, whatever libpq does.
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            pass
    except OSError as exc:
        return f"nothing listens ({exc.strerror or exc})"
    return _connect_error(DEFAULT_URL, connect_timeout=2)


# ---------------------------------------------------------------------------------------------------
# path 3: the throwaway cluster


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_cluster(
    root: Path, *, port: int | None, bindir: Path | str | None, timeout: float, allow_install: bool
) -> str:
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    data, run = root / "data", root / "run"
    logfile = run / "postgres.log"
    with _locked(root):
        # Already running (started by an earlier call, maybe from another process)?
        running = _running_port(data)
        if running is not None:
            url = admin_url_for_port(running)
            _wait_ready(url, logfile, timeout, what=f"the running cluster in {data}")
            if port is not None and port != running:
                log.warning("cluster in %s already runs on port %s (asked for %s)", data, running, port)
            (root / "port").write_text(f"{running}\n")
            return url

        existing_major = _cluster_major(data)
        bins = _find_binaries(bindir, allow_install, want_major=existing_major)
        if existing_major is not None and existing_major != bins.major:
            raise PostgresUnavailable(
                f"the cluster in {data} is PostgreSQL {existing_major}, but the binaries found "
                f"({bins.bindir}, {bins.source}) are PostgreSQL {bins.major}: delete {root} to start "
                f"afresh, or set {ENV_BINDIR} to a PostgreSQL {existing_major} bin directory"
            )
        _wait_for_dead_postmaster(data, timeout)
        runner = _runner(data)
        _prepare_dirs(root, data, run, bins, runner)
        if existing_major is None:
            _initdb(bins, data, runner, timeout)

        chosen = _choose_port(root, port)
        sockdir = _socket_dir(root, run, runner)
        _start(bins, data, logfile, chosen, sockdir, runner, timeout)
        url = admin_url_for_port(chosen)
        _wait_ready(url, logfile, timeout, what=f"the cluster started in {data}")
        (root / "port").write_text(f"{chosen}\n")
        (root / "bindir").write_text(f"{bins.bindir}\n")
        return url


def _cluster_major(data: Path) -> int | None:
    try:
        return int((data / "PG_VERSION").read_text().strip().split(".")[0])
    except (OSError, ValueError):
        return None


def _read_postmaster_pid(data: Path) -> list[str] | None:
    try:
        return (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, exited but not yet reaped by init, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)
    return stat_line.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _postmaster_pid(data: Path) -> int | None:
    """The pid of a live postmaster for ``data``, else None (no or stale postmaster.pid)."""
    lines = _read_postmaster_pid(data)
    if not lines:
        return None
    try:
        pid = int(lines[0])
    except ValueError:
        return None
    if not _alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists():  # Linux: guard against a recycled pid after a reboot
        try:
            if b"postgres" not in cmdline.read_bytes():
                return None
        except OSError:
            return None
    return pid


def _wait_for_dead_postmaster(data: Path, timeout: float) -> None:
    """After a crash (kill -9) the old postmaster's pid lingers for a moment (a zombie, or still
    exiting); a new postmaster refuses to start while it does, so wait for it to go away."""
    lines = _read_postmaster_pid(data)
    try:
        pid = int(lines[0]) if lines else 0
    except ValueError:
        return
    if pid <= 0:
        return
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        text = cmdline.read_bytes()
        if text and b"postgres" not in text:
            # The pid was recycled by an unrelated process (e.g. after a reboot): the file is stale.
            log.warning("removing stale %s (pid %s is not postgres)", data / "postmaster.pid", pid)
            (data / "postmaster.pid").unlink()
            return
    # Wait even for a zombie: postgres checks the old pid with kill(pid, 0), which a zombie passes.
    deadline = time.monotonic() + min(timeout, 15.0)
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.1)


def _running_port(data: Path) -> int | None:
    if _postmaster_pid(data) is None:
        return None
    lines = _read_postmaster_pid(data) or []
    try:
        return int(lines[3])
    except (IndexError, ValueError):
        return None


def _postgres_major(postgres: Path) -> int | None:
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _usable_bindir(bindir: Path, source: str) -> Binaries | None:
    if not all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
        return None
    major = _postgres_major(bindir / "postgres")
    return Binaries(bindir, major, source) if major else None


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def _machine_candidates() -> Iterator[tuple[Path, str]]:
    seen: set[Path] = set()
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found:
            bindir = Path(found).resolve().parent  # /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin
            if bindir not in seen:
                seen.add(bindir)
                yield bindir, f"PATH ({found})"
    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        bindir = Path(path).resolve()
        if bindir not in seen:
            seen.add(bindir)
            yield bindir, path
    for path in ("/usr/local/pgsql/bin", "/usr/pgsql/bin"):
        bindir = Path(path)
        if bindir.is_dir() and bindir.resolve() not in seen:
            seen.add(bindir.resolve())
            yield bindir, path


def _embedded_bindir() -> Path | None:
    spec = importlib.util.find_spec("pgserver")  # does not import it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _install_embedded() -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", EMBEDDED_REQUIREMENT]
    print(f"localpg: installing {EMBEDDED_REQUIREMENT} for its PostgreSQL binaries: {' '.join(cmd)}",
          file=sys.stderr)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"could not run pip to install {EMBEDDED_REQUIREMENT}: {exc}") from exc
    if proc.returncode != 0:
        raise PostgresUnavailable(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); install PostgreSQL (e.g. apt-get install "
            f"postgresql) or set {ENV_URL}.\n{_tail(proc.stdout + proc.stderr)}"
        )
    importlib.invalidate_caches()


def _find_binaries(bindir: Path | str | None, allow_install: bool, want_major: int | None) -> Binaries:
    if bindir is not None and str(bindir) != "embedded":
        found = _usable_bindir(Path(bindir), ENV_BINDIR)
        if found is None:
            raise PostgresUnavailable(f"{bindir} does not hold runnable initdb, pg_ctl and postgres")
        return found

    candidates: list[Binaries] = []
    if bindir is None:
        candidates = [b for d, src in _machine_candidates() if (b := _usable_bindir(d, src)) is not None]
    embedded = _embedded_bindir()
    if embedded is not None and (b := _usable_bindir(embedded, "pgserver")) is not None:
        candidates.append(b)
    if want_major is not None:
        matching = [b for b in candidates if b.major == want_major]
        if matching:
            return matching[0]
    if candidates:
        return candidates[0]

    if not allow_install:
        raise PostgresUnavailable(
            "no PostgreSQL binaries (initdb, pg_ctl, postgres) in PATH, /usr/lib/postgresql/*/bin or the "
            f"pgserver package, and {ENV_NO_INSTALL} forbids installing pgserver: install PostgreSQL "
            f"or set {ENV_URL} to a running server"
        )
    _install_embedded()
    embedded = _embedded_bindir()
    found = _usable_bindir(embedded, "pgserver") if embedded is not None else None
    if found is None:
        raise PostgresUnavailable(
            f"{EMBEDDED_REQUIREMENT} installed, but no runnable binaries in {embedded} (its wheels cover "
            f"Linux x86_64/aarch64 and macOS): install PostgreSQL or set {ENV_URL}"
        )
    return found


# --- running as root --------------------------------------------------------------------------------


def _runner(data: Path) -> pwd.struct_passwd | None:
    """The unprivileged user to run initdb/pg_ctl as, or None when this process is not root."""
    if os.geteuid() != 0:
        return None
    if data.exists():
        owner = data.stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner)
        if (data / "PG_VERSION").exists():
            raise PostgresUnavailable(f"{data} is owned by root; PostgreSQL cannot run as root: delete it")
    names = [os.environ.get(ENV_OS_USER, ""), "postgres", "nobody"]
    for name in filter(None, names):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry
    raise PostgresUnavailable(
        "running as root, and none of the users postgres, nobody (or $RETENTION_PG_OS_USER) exists "
        "to run PostgreSQL as"
    )


def _ensure_traversable(path: Path, user: pwd.struct_passwd) -> None:
    """Add o+x to every directory from ``path`` up that ``user`` could not traverse."""
    groups = {user.pw_gid}
    for current in [path, *path.parents]:
        st = current.stat()
        if st.st_uid == user.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            log.warning("adding o+x to %s so that %s can reach the cluster", current, user.pw_name)
            os.chmod(current, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


def _prepare_dirs(root: Path, data: Path, run: Path, bins: Binaries, runner: pwd.struct_passwd | None) -> None:
    for directory in (data, run):
        directory.mkdir(mode=0o700, exist_ok=True)
        if runner is not None:
            os.chown(directory, runner.pw_uid, runner.pw_gid)
        os.chmod(directory, 0o700)
    if runner is not None:
        _ensure_traversable(root, runner)
        _ensure_traversable(bins.bindir, runner)
        check = _run([bins.exe("postgres"), "--version"], runner, timeout=30)
        if check.returncode != 0:
            raise PostgresUnavailable(
                f"user {runner.pw_name} cannot run {bins.exe('postgres')} (exit {check.returncode}): "
                f"{check.output.strip()}"
            )


@dataclass
class _Result:
    returncode: int
    output: str


def _run(cmd: list[str], runner: pwd.struct_passwd | None, timeout: float, new_session: bool = False) -> _Result:
    """Run ``cmd`` (as ``runner`` when given), stdout+stderr through a temp file: pg_ctl's children
    must never inherit a pipe we wait on."""
    kwargs: dict = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if runner is not None:
        kwargs = {"user": runner.pw_uid, "group": runner.pw_gid, "extra_groups": []}
        env.update(HOME=runner.pw_dir, USER=runner.pw_name, LOGNAME=runner.pw_name)
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=env,
                timeout=timeout,
                start_new_session=new_session,
                **kwargs,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
            out.write(f"\n(timed out after {timeout:.0f} s)\n")
        except OSError as exc:
            code = -1
            out.write(f"\n{exc}\n")
        out.seek(0)
        return _Result(code, out.read())


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _log_tail(logfile: Path) -> str:
    try:
        return f"--- last lines of {logfile} ---\n{_tail(logfile.read_text(errors='replace'))}"
    except OSError:
        return f"(no server log at {logfile})"


def _initdb(bins: Binaries, data: Path, runner: pwd.struct_passwd | None, timeout: float) -> None:
    cmd = [bins.exe("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
           "--no-sync"]
    result = _run(cmd, runner, timeout=max(timeout, 120))
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"initdb failed (exit {result.returncode}) for {data} with {bins.bindir}"
            f"{' as ' + runner.pw_name if runner else ''}:\n{_tail(result.output)}"
        )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_port(root: Path, requested: int | None) -> int:
    if requested is not None:
        if not _port_free(requested):
            raise PostgresUnavailable(f"port {requested} on 127.0.0.1 is taken")
        return requested
    candidates: list[int] = []
    try:
        candidates.append(int((root / "port").read_text().strip()))
    except (OSError, ValueError):
        pass
    candidates.extend(range(FIRST_PORT, FIRST_PORT + 200))
    for candidate in candidates:
        if _port_free(candidate):
            return candidate
    raise PostgresUnavailable(f"no free TCP port on 127.0.0.1 in {FIRST_PORT}-{FIRST_PORT + 199}")


def _socket_dir(root: Path, run: Path, runner: pwd.struct_passwd | None) -> Path:
    if len(str(run / ".s.PGSQL.55432.lock")) <= _SOCKET_PATH_MAX:
        return run
    # Too long for a Unix socket path: use a short private directory instead.
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"retention-pg-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    if runner is not None:
        os.chown(short, runner.pw_uid, runner.pw_gid)
    return short


def _start(
    bins: Binaries,
    data: Path,
    logfile: Path,
    port: int,
    sockdir: Path,
    runner: pwd.struct_passwd | None,
    timeout: float,
) -> None:
    options = " ".join(
        [
            f"-p {port}",
            f"-k {shlex.quote(str(sockdir))}",
            "-c listen_addresses=127.0.0.1",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
    )
    cmd = [bins.exe("pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", str(int(timeout)), "-o", options,
           "start"]
    # A new session: the server outlives this process and ignores the caller's Ctrl-C.
    result = _run(cmd, runner, timeout=timeout + 10, new_session=True)
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"pg_ctl start failed (exit {result.returncode}) for {data} on 127.0.0.1:{port}:\n"
            f"{_tail(result.output)}\n{_log_tail(logfile)}"
        )


def _wait_ready(url: str, logfile: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    error = _connect_error(url)
    while error is not None:
        if time.monotonic() > deadline:
            raise PostgresUnavailable(
                f"{what} does not accept connections at {url} after {timeout:.0f} s: {error}\n{_log_tail(logfile)}"
            )
        time.sleep(0.2)
        error = _connect_error(url)


# ---------------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retention.localpg",
        description="Print the admin URL of a usable PostgreSQL server, starting a throwaway cluster if needed.",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "var" / "pg",
                        help="folder of the throwaway cluster (default: %(default)s)")
    parser.add_argument("--stop", action="store_true", help="stop the throwaway cluster in --root and exit")
    parser.add_argument("--no-default", action="store_true",
                        help="do not try 127.0.0.1:5432; always use the cluster in --root")
    parser.add_argument("--port", type=int, default=None, help="port for a newly started cluster")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="localpg: %(message)s")
    try:
        if args.stop:
            stopped = stop_postgres(args.root)
            print(f"stopped the cluster in {args.root}" if stopped else f"no cluster running in {args.root}")
            return 0
        print(ensure_postgres(args.root, probe_default=not args.no_default, port=args.port))
    except PostgresUnavailable as exc:
        print(f"localpg: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
