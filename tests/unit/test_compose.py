"""docker-compose.yaml is consistent with the project (no Docker engine needed: the file is only parsed)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from retention.db import APP_DB_CONN_ID, WAREHOUSE_CONN_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"

AIRFLOW_SERVICES = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
DATABASES = ["postgres", "app-db", "warehouse-db"]
EXPECTED_SERVICES = [*DATABASES, "redis", *AIRFLOW_SERVICES]
ONE_SHOT = {"airflow-init"}

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """What compose makes of ``value`` with no variables set: ``${X:-default}`` -> ``default``."""
    return _VAR.sub(lambda m: m.group("default") or "", value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def mounts(service: dict) -> dict[str, str]:
    """Container path -> host path of the bind mounts and volumes (short syntax)."""
    result = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            result[volume["target"]] = volume.get("source", "")
        else:
            parts = volume.split(":")
            result[parts[1]] = parts[0]
    return result


def test_expected_services_exist(services: dict) -> None:
    missing = [name for name in EXPECTED_SERVICES if name not in services]
    assert not missing, f"missing services: {missing}"


def test_every_long_running_service_has_a_healthcheck(services: dict) -> None:
    for name, service in services.items():
        if name in ONE_SHOT or service.get("profiles"):
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_airflow_image_matches_requirements(compose: dict, services: dict) -> None:
    pin = requirement_pins()["apache-airflow"]
    images = {name: interpolate(services[name]["image"]) for name in AIRFLOW_SERVICES}
    images["x-airflow-common"] = interpolate(compose["x-airflow-common"]["image"])
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository == "apache/airflow", f"{name}: {image}"
        assert re.fullmatch(rf"{re.escape(pin)}(-python3\.\d+)?", tag), (
            f"{name} runs {image}, but requirements.txt pins apache-airflow=={pin}"
        )


def test_database_images_are_postgres_15(services: dict) -> None:
    for name in DATABASES:
        assert interpolate(services[name]["image"]) == "postgres:15", name


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_dags_plugins_and_sql_are_mounted(services: dict, name: str) -> None:
    found = mounts(services[name])
    for folder in ("dags", "plugins", "sql"):
        target = f"/opt/airflow/{folder}"
        assert target in found, f"{name} does not mount {target}"
        assert Path(found[target]).as_posix().lstrip("./") == folder, f"{name}: {target} <- {found[target]}"
        assert (REPO_ROOT / folder).is_dir()
    assert environment(services[name]).get("RETENTION_SQL_DIR") == "/opt/airflow/sql"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_connections_point_at_the_databases(services: dict, name: str) -> None:
    env = environment(services[name])
    expected = {
        f"AIRFLOW_CONN_{APP_DB_CONN_ID.upper()}": ("app-db", services["app-db"]),
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": ("warehouse-db", services["warehouse-db"]),
    }
    assert set(expected) == {"AIRFLOW_CONN_APP_DB", "AIRFLOW_CONN_STATS_WAREHOUSE"}
    for variable, (host, db_service) in expected.items():
        assert variable in env, f"{name} lacks {variable}"
        raw = env[variable]
        assert "${RETENTION_DB_PASSWORD" in raw, f"{variable}: the password must come from RETENTION_DB_PASSWORD"
        url = urlsplit(interpolate(raw))
        db_env = {k: interpolate(v) for k, v in environment(db_service).items()}
        assert url.scheme in {"postgresql", "postgres"}
        assert url.hostname == host
        assert (url.port or 5432) == 5432
        assert url.username == "retention_pipeline" == db_env["POSTGRES_USER"]
        assert url.password == db_env["POSTGRES_PASSWORD"]
        assert url.path.lstrip("/") == db_env["POSTGRES_DB"]


def test_no_hardcoded_database_password(services: dict) -> None:
    for name in ("app-db", "warehouse-db"):
        assert environment(services[name])["POSTGRES_PASSWORD"].startswith("${RETENTION_DB_PASSWORD"), name


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_celery_executor_with_redis_and_execution_api(services: dict, name: str) -> None:
    env = {key: interpolate(value) for key, value in environment(services[name]).items()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).scheme == "redis"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname == "airflow-apiserver"
    assert execution_api.path == "/execution/"
    assert "8080:8080" in services["airflow-apiserver"]["ports"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "every service needs the same JWT secret"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"]


def test_worker_command_and_services(services: dict) -> None:
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["airflow-worker"]["command"] == "celery worker"
    init_env = environment(services["airflow-init"])
    assert init_env["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init_env["_AIRFLOW_WWW_USER_CREATE"] == "true"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_waits_for_healthy_databases(services: dict, name: str) -> None:
    depends_on = services[name]["depends_on"]
    for dependency in [*DATABASES, "redis"]:
        assert depends_on.get(dependency, {}).get("condition") == "service_healthy", (
            f"{name} must wait for {dependency} to be healthy"
        )
    if name not in ONE_SHOT:
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully"


def test_depends_on_targets_exist_and_have_healthchecks(services: dict) -> None:
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec.get("condition") == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{dependency} has no healthcheck"


def test_app_db_is_initialised_with_the_schema(services: dict) -> None:
    found = mounts(services["app-db"])
    initdb = {target: source for target, source in found.items() if target.startswith("/docker-entrypoint-initdb.d/")}
    assert initdb, "app-db has no init script"
    for source in initdb.values():
        assert (REPO_ROOT / source).is_file(), source
    assert any(Path(source).as_posix().endswith("sql/app/schema.sql") for source in initdb.values())


def test_pip_additional_requirements_match_requirements_txt(compose: dict) -> None:
    raw = environment(compose["x-airflow-common"])["_PIP_ADDITIONAL_REQUIREMENTS"]
    pins = requirement_pins()
    for requirement in interpolate(raw).split():
        if "==" not in requirement:
            continue
        name, version = requirement.split("==", 1)
        name = re.sub(r"\[.*\]", "", name).lower()
        assert pins.get(name) == version, f"{requirement} disagrees with requirements.txt ({pins.get(name)})"
