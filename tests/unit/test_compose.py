"""docker-compose.yaml, Dockerfile and .dockerignore agree with the project and with ``make stack``.

No Docker engine is needed: the files are parsed, and compose's ``${...}`` interpolation is done here
with a ``.env`` written by :mod:`retention.deployenv`, as ``make env`` writes it.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import os
import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from retention import bootstrap, deployenv
from retention.db import APP_DB_CONN_ID, WAREHOUSE_CONN_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# Long-running Airflow services -> the component of retention.stack.COMPONENTS they run.
COMPONENT_OF = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery-worker",
}
AIRFLOW_SERVICES = ["airflow-init", *COMPONENT_OF]
DATABASES = ["postgres", "app-db", "warehouse-db"]
EXPECTED_SERVICES = [*DATABASES, "redis", *AIRFLOW_SERVICES]
ONE_SHOT = {"airflow-init"}
ENV_KEYS = {"AIRFLOW_UID", *deployenv.SECRETS, *deployenv.OPERATOR_SETTINGS}
# The administrators' secrets: airflow-init uses them, no long-running service holds them.
ADMIN_SECRETS = {"POSTGRES_ADMIN_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"}
# Optional settings of the compose file that are not in .env: none is a secret, each has a default.
OPTIONAL = {"RETENTION_IMAGE", "AIRFLOW_HOST_PORT", "APP_DB_HOST_PORT", "WAREHOUSE_DB_HOST_PORT"}

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def references(text: str) -> list[tuple[str, str | None, str]]:
    """Every ``${NAME<op>arg}`` of ``text`` (``$$`` is an escaped dollar, not a reference)."""
    return [(m["name"], m["op"], m["arg"] or "") for m in _VAR.finditer(text) if m.group(0) != "$$"]


def interpolate(value: str, env: dict[str, str]) -> str:
    """What compose makes of ``value`` with the settings ``env`` (``.env``)."""

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        current = env.get(m["name"], "")
        if m["op"] and m["op"].endswith("?") and not current:
            raise LookupError(f"{m['name']} is required: {m['arg']}")
        if m["op"] and m["op"].endswith("-") and not current:
            return m["arg"]
        return current

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def dotenv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A .env exactly as ``make env`` writes it."""
    return deployenv.ensure_env_file(tmp_path_factory.mktemp("env") / ".env")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def resolved(service: dict, dotenv: dict[str, str]) -> dict[str, str]:
    """The service's environment in the container: env_file (.env), then `environment` over it."""
    return {**dotenv, **{key: interpolate(value, dotenv) for key, value in environment(service).items()}}


def strings(node) -> list[str]:
    """Every key and value of the parsed file (comments excluded)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (str(key), *strings(value))]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [] if node is None else [str(node)]


def mounts(service: dict) -> dict[str, str]:
    """Container path -> host path or volume name (short syntax)."""
    result = {}
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        result[parts[1]] = parts[0]
    return result


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def init_script(services: dict) -> str:
    command = services["airflow-init"]["command"]
    assert services["airflow-init"]["entrypoint"] == "/bin/bash" and command[0] == "-c"
    return command[1]


def bootstrap_arguments(services: dict, dotenv: dict[str, str]) -> list[str]:
    """The arguments airflow-init gives ``python -m retention.bootstrap``, shell variables expanded."""
    script = interpolate(init_script(services), dotenv).replace("\\\n", " ")
    env = resolved(services["airflow-init"], dotenv)
    calls = [line for line in script.splitlines() if "retention.bootstrap" in line]
    assert len(calls) == 1, calls
    words = shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], calls[0]))
    return words[words.index("retention.bootstrap") + 1:]


# --- topology ---------------------------------------------------------------------------------------


def test_expected_services_exist(services: dict) -> None:
    assert sorted(services) == sorted(EXPECTED_SERVICES)


def test_every_long_running_service_has_a_healthcheck(services: dict) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_each_airflow_service_runs_a_component_of_make_stack(services: dict) -> None:
    """compose and ``make stack`` start the same Airflow components (retention.stack.COMPONENTS)."""
    stack = importlib.import_module("retention.stack")
    assert set(COMPONENT_OF.values()) == set(stack.COMPONENTS), (
        "compose's Airflow services and make stack's components differ")
    for name, component in COMPONENT_OF.items():
        command = services[name]["command"]
        words = command.split() if isinstance(command, str) else list(command)
        stack_args = list(stack.COMPONENTS[component])
        subcommand = stack_args[: next((i for i, a in enumerate(stack_args) if a.startswith("-")), len(stack_args))]
        assert words == subcommand, f"{name} runs `airflow {' '.join(words)}`, make stack `airflow {' '.join(subcommand)}`"


# How each service setting of make stack (retention.stack.stack_env) relates to compose's.
SAME_VALUE = {  # the same value in both (booleans compared case-insensitively)
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__CELERY__WORKER_CONCURRENCY", "GX_ANALYTICS_ENABLED",
    "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
    "RETENTION_PACKAGE_KEY",
}
SAME_ROLE = {  # both set it; the value names this machine's or the container's places
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW_CONN_APP_DB", "AIRFLOW_CONN_STATS_WAREHOUSE", "RETENTION_DATA_DOCS_DIR", "RETENTION_SQL_DIR",
}
ONLY_STACK = {  # why compose does without
    "AIRFLOW__CORE__DAGS_FOLDER": "the image's default, /opt/airflow/dags, where compose mounts dags/",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "the image's default, /opt/airflow/plugins",
    "AIRFLOW__API__HOST": "a container listens on its own network; the host port is bound to 127.0.0.1",
    "AIRFLOW__API__PORT": "8080 inside the container; AIRFLOW_HOST_PORT outside",
    "AIRFLOW__API__BASE_URL": "the default (the request's host) serves http://localhost:8080",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "one worker per container: the default port is free",
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "one triggerer per container: the default port is free",
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "a compose project has its own Redis: no other checkout's workers",
}
ONLY_COMPOSE = {
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "the scheduler's container healthcheck",
}


def test_make_stack_gives_the_services_the_same_settings(services: dict, dotenv: dict[str, str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways to start it read the same .env and configure Airflow alike; each difference has a reason."""
    stack = importlib.import_module("retention.stack")
    for key in [key for key in os.environ if key.startswith(("AIRFLOW", "RETENTION_"))]:
        monkeypatch.delenv(key)
    args = argparse.Namespace(workers=int(dotenv["RETENTION_STACK_WORKERS"]), queue=None)
    stack_env = stack.stack_env(args, tmp_path / "home", "redis://127.0.0.1:6379/0",
                                "postgresql+psycopg2://airflow@127.0.0.1:5432/airflow_x", 8080, dotenv,
                                "postgresql://retention_pipeline@127.0.0.1:5432/app",
                                "postgresql://retention_pipeline@127.0.0.1:5432/warehouse")

    def relevant(env: dict[str, str]) -> set[str]:
        # Operator settings are compared below; the other raw .env keys (passwords inside URLs, uid)
        # configure neither Airflow nor the pipeline by themselves.
        return {key for key in env if key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "RETENTION_", "GX_"))
                and key not in deployenv.OPERATOR_SETTINGS and key not in ADMIN_SECRETS
                and key != "RETENTION_DB_PASSWORD"}

    stack_keys = relevant(stack_env)
    for name in COMPONENT_OF:
        compose_env = resolved(services[name], dotenv)
        compose_keys = relevant(compose_env)
        assert stack_keys - compose_keys == set(ONLY_STACK), f"{name}: settings only make stack gives"
        assert compose_keys - stack_keys == set(ONLY_COMPOSE), f"{name}: settings only compose gives"
        assert compose_keys & stack_keys == SAME_VALUE | SAME_ROLE
        for key in SAME_VALUE:
            assert compose_env[key].lower() == stack_env[key].lower(), f"{name}: {key}"
        # .env's alert settings reach the services of both alike.
        for key, value in stack.settings_from_env_file(dotenv).items():
            assert compose_env[key] == value, f"{name}: {key}"
    assert stack.SIMPLE_AUTH_MANAGER == resolved(services["airflow-apiserver"], dotenv)["AIRFLOW__CORE__AUTH_MANAGER"]


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_waits_for_healthy_databases(services: dict, name: str) -> None:
    depends_on = services[name]["depends_on"]
    for dependency in [*DATABASES, "redis"]:
        assert depends_on.get(dependency, {}).get("condition") == "service_healthy", (
            f"{name} must wait for {dependency} to be healthy")
    if name not in ONE_SHOT:
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully"


def test_depends_on_targets_exist_and_have_healthchecks(services: dict) -> None:
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec.get("condition") == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{dependency} has no healthcheck"


def test_ports_are_bound_to_localhost_only(services: dict, dotenv: dict[str, str]) -> None:
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip, host_port, container_port = interpolate(str(port), dotenv).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            published[name] = (host_port, container_port)
    assert published["airflow-apiserver"] == ("8080", "8080")
    assert "redis" not in published and "postgres" not in published


# --- settings: one .env, no defaults for secrets -------------------------------------------------------


def test_every_variable_is_a_make_env_key_or_an_optional_non_secret(compose: dict) -> None:
    found = [ref for text in strings(compose) for ref in references(text)]
    assert found
    for name, op, arg in found:
        if name in ENV_KEYS:
            assert op == ":?" and "make env" in arg, f"${{{name}}} must be required (:?run make env), not {op}{arg}"
        else:
            assert name in OPTIONAL, f"${{{name}}} is neither a key of .env (retention.deployenv) nor a known option"
            assert op == ":-" and arg, f"optional ${{{name}}} needs a default"
            assert not re.search(r"PASSWORD|SECRET|KEY|TOKEN", name), name
    assert {name for name, _, _ in found} >= set(deployenv.SECRETS), "a secret of .env is never used"


def test_no_guessable_secret_in_the_file(compose: dict) -> None:
    text = "\n".join(strings(compose)).lower()
    for word in ("change-me", "changeme", "airflow:airflow@", "_pip_additional_requirements", "_airflow_www_user"):
        assert word not in text, word


def test_compose_refuses_to_start_without_env(services: dict, dotenv: dict[str, str]) -> None:
    for name in AIRFLOW_SERVICES:
        for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
            with pytest.raises(LookupError, match="make env"):
                interpolate(environment(services[name])[key], {})


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_read_the_env_file(services: dict, name: str) -> None:
    assert services[name]["env_file"] == [".env"]
    assert deployenv.DEFAULT_PATH == COMPOSE_FILE.parent / ".env"
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split() or "/.env" in (
        REPO_ROOT / ".gitignore").read_text().split()


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_secrets_and_settings_come_from_the_env_file(services: dict, dotenv: dict[str, str], name: str) -> None:
    """What make env generated is what every service gets: same Fernet key, JWT secret, secret_key."""
    raw = environment(services[name])
    env = resolved(services[name], dotenv)
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert raw[key] == f"${{{key}:?run make env}}", f"{name}: {key} must be .env's, unchanged"
        assert env[key] == dotenv[key] and len(env[key]) >= 32
    # Operator settings (alerts, SMTP) are not overridden: env_file's value is the one the tasks see.
    for key in deployenv.OPERATOR_SETTINGS:
        assert key not in raw, f"{name} overrides {key} from .env"
        assert env[key] == dotenv[key]
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == dotenv["RETENTION_STACK_WORKERS"]
    user = services[name]["user"]
    assert user == ("0:0" if name in ONE_SHOT else "${AIRFLOW_UID:?run make env}:0")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_administrators_secrets_reach_airflow_init_only(services: dict, dotenv: dict[str, str], name: str) -> None:
    env = resolved(services[name], dotenv)
    for key in ADMIN_SECRETS:
        if name == "airflow-init":
            assert env[key] == dotenv[key], key
        else:
            assert env[key] == "", f"{name} holds {key}"


# --- databases, roles, connections ----------------------------------------------------------------------


def test_databases_are_administered_by_postgres(services: dict, dotenv: dict[str, str]) -> None:
    for name in ("app-db", "warehouse-db"):
        env = resolved(services[name], dotenv)
        assert env["POSTGRES_USER"] == "postgres", f"{name}: the pipeline must not be the superuser"
        assert env["POSTGRES_PASSWORD"] == dotenv["POSTGRES_ADMIN_PASSWORD"]
        assert not any(target.startswith("/docker-entrypoint-initdb.d") for target in mounts(services[name]))
    env = resolved(services["postgres"], dotenv)
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("airflow", dotenv["AIRFLOW_DB_PASSWORD"])


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_connections_use_the_least_privilege_role(services: dict, dotenv: dict[str, str], name: str) -> None:
    env = resolved(services[name], dotenv)
    expected = {f"AIRFLOW_CONN_{APP_DB_CONN_ID.upper()}": "app-db",
                f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": "warehouse-db"}
    for variable, host in expected.items():
        url = urlsplit(env[variable])
        db_env = resolved(services[host], dotenv)
        assert (url.scheme, url.hostname, url.port or 5432) == ("postgresql", host, 5432)
        assert url.username == bootstrap.PIPELINE_ROLE
        assert url.password == dotenv["RETENTION_DB_PASSWORD"]
        assert url.path.lstrip("/") == db_env["POSTGRES_DB"]
    metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (metadata.hostname, metadata.username, metadata.password) == ("postgres", "airflow",
                                                                         dotenv["AIRFLOW_DB_PASSWORD"])


def test_airflow_init_migrates_then_bootstraps_as_the_administrator(services: dict, dotenv: dict[str, str]) -> None:
    script = init_script(services)
    assert script.index("airflow db migrate") < script.index("retention.bootstrap")
    assert "set -euo pipefail" in script
    args = bootstrap.build_parser().parse_args(bootstrap_arguments(services, dotenv))
    assert args.pool
    for option, host in ((args.app_admin, "app-db"), (args.warehouse_admin, "warehouse-db")):
        url = urlsplit(option)
        db_env = resolved(services[host], dotenv)
        assert (url.hostname, url.username, url.path.lstrip("/")) == (host, db_env["POSTGRES_USER"],
                                                                      db_env["POSTGRES_DB"])
        assert url.password is None, "the admin password goes through the environment, not the command line"
    env = resolved(services["airflow-init"], dotenv)
    assert str(args.passwords_file) == env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert env["PYTHONPATH"] == "/opt/airflow/plugins"
    # The shared volumes it creates as root end up owned by the uid the services run as.
    for target in ("/opt/airflow/logs", "/opt/airflow/data_docs", str(args.passwords_file.parent)):
        assert target in script.split("chown -R", 1)[1], f"{target} is not handed to AIRFLOW_UID"


def test_airflow_init_script_is_valid_bash(services: dict, dotenv: dict[str, str]) -> None:
    script = interpolate(init_script(services), dotenv)
    check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_ui_login_is_simple_auth_manager_with_the_bootstrap_user(services: dict, dotenv: dict[str, str]) -> None:
    env = resolved(services["airflow-apiserver"], dotenv)
    module, _, cls = env["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert cls == "SimpleAuthManager" and hasattr(importlib.import_module(module), cls)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == bootstrap.SIMPLE_AUTH_MANAGER_USERS
    auth_dir = str(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    holders = {name for name in AIRFLOW_SERVICES if auth_dir in mounts(services[name])}
    assert holders == {"airflow-apiserver", "airflow-init"}, "the UI passwords: api-server and init only"
    assert mounts(services["airflow-apiserver"])[auth_dir] == mounts(services["airflow-init"])[auth_dir]


# --- volumes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_code_logs_and_data_docs_are_shared(services: dict, dotenv: dict[str, str], name: str) -> None:
    found = mounts(services[name])
    for folder in ("dags", "plugins", "sql"):
        assert found.get(f"/opt/airflow/{folder}", "").lstrip("./") == folder, f"{name} lacks {folder}"
        assert (REPO_ROOT / folder).is_dir()
    env = resolved(services[name], dotenv)
    assert env["RETENTION_SQL_DIR"] == "/opt/airflow/sql"
    # One named volume each, the same in every service: workers write, the api-server reads.
    assert found[env["RETENTION_DATA_DOCS_DIR"]] == "retention-data-docs"
    assert found["/opt/airflow/logs"] == "airflow-logs"


def test_named_volumes_are_declared(compose: dict, services: dict) -> None:
    used = {source for service in services.values() for source in mounts(service).values()
            if not source.startswith(".")}
    assert used == set(compose["volumes"])


# --- the image -------------------------------------------------------------------------------------------


def test_every_airflow_service_runs_the_image_built_from_the_dockerfile(services: dict, dotenv: dict[str, str]) -> None:
    images = {interpolate(services[name]["image"], dotenv) for name in AIRFLOW_SERVICES}
    assert len(images) == 1
    assert all(services[name]["build"] == "." for name in AIRFLOW_SERVICES)
    pin = requirement_pins()["apache-airflow"]
    assert images.pop().endswith(f":{pin}")


def test_dockerfile_base_matches_the_pins_and_the_lock() -> None:
    instructions = dockerfile_instructions()
    base = [arg for op, arg in instructions if op == "FROM"]
    assert len(base) == 1
    lock_python = re.search(r"--python-version (\d+\.\d+)", (REPO_ROOT / "requirements.lock").read_text())[1]
    assert base[0] == f"apache/airflow:{requirement_pins()['apache-airflow']}-python{lock_python}"


def test_image_installs_requirements_lock_and_nothing_else() -> None:
    instructions = dockerfile_instructions()
    installs = [arg for op, arg in instructions if op == "RUN"]
    assert len(installs) == 1, installs
    copies = {shlex.split(arg)[-2]: shlex.split(arg)[-1] for op, arg in instructions if op == "COPY"}
    assert copies["requirements.lock"].endswith("/requirements.lock")
    assert shlex.split(installs[0]) == ["pip", "install", "--no-cache-dir", "-r", copies["requirements.lock"]]
    users = [arg for op, arg in instructions[: instructions.index(("RUN", installs[0]))] if op == "USER"]
    assert users and users[-1] == "airflow", "pip must run as the airflow user"
    assert not any("requirements-dev" in arg for _, arg in instructions)


def test_image_holds_what_compose_mounts_at_the_same_places(services: dict) -> None:
    copies = {shlex.split(arg)[-2]: shlex.split(arg)[-1] for op, arg in dockerfile_instructions() if op == "COPY"}
    for name in AIRFLOW_SERVICES:
        for target, source in mounts(services[name]).items():
            if source.startswith("./"):
                assert copies.get(source[2:]) == target, f"{name} mounts {source} at {target}; the image has it elsewhere"


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule, enough for this file: the last matching pattern wins; a pattern that
    matches a folder matches what is inside."""
    result = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, bare) for prefix in prefixes):
            result = not negate
    return result


def test_dockerignore_sends_only_what_the_image_copies() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [shlex.split(arg)[-2] for op, arg in dockerfile_instructions() if op == "COPY"]
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not ignored(source, patterns), f"{source} is copied by the Dockerfile but ignored"
    for secret_or_bulk in (".env", ".venv/bin/python", "var/pg/data/PG_VERSION", ".git/HEAD", "tests/conftest.py",
                           "plugins/retention/__pycache__/db.cpython-311.pyc", "requirements-dev.lock"):
        assert ignored(secret_or_bulk, patterns), f"{secret_or_bulk} would enter the build context"
