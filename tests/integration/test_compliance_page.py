"""The Retention page for real: Airflow's api-server with the plugin, the demo data after one real
nightly run, a logged-in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium),
figures checked against the database, anonymous requests refused. Screenshot in var/test-artifacts/."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import airflow_env
import httpx
import pytest
from dagrun import run_dag
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = airflow_env.REPO_ROOT / "var" / "test-artifacts"
SCREENSHOT = ARTIFACTS / "compliance_page.png"
USER = "admin"
RULES = ("anonymise_deceased", "anonymise_closed", "anonymise_inactive", "purge_connection_logs", "purge_prospects")
GATES = ("accounts_before", "accounts_after", "warehouse_after", "release_after", "connection_logs_after",
         "prospects_after")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextmanager
def api_server(env: dict[str, str], log_file: Path):
    """``airflow api-server`` on a free localhost port, in its own process group (its uvicorn worker
    renames itself), stopped with that group at the end."""
    port = free_port()
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log_file.open("w") as out:
        proc = subprocess.Popen([airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def wait_healthy(proc: subprocess.Popen, base: str, log_file: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"api-server exited with {proc.returncode}:\n{tail(log_file)}")
        try:
            if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"api-server not healthy after {timeout:.0f} s:\n{tail(log_file)}")


def browser(user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={user_data_dir}", "--window-size=1600,2200", "--hide-scrollbars",
                 # Offline and quick: every host but localhost fails to resolve at once (the Data Docs
                 # pages reference CDNs; the Retention page itself references nothing external).
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def shown(value: int) -> str:
    return f"{value:,}"


def instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def database_figures(p, run_id: str, backlog_at: datetime) -> dict:
    """What the database holds, read independently of the page's code (admin connection, own SQL)."""
    from retention.accounts import count_eligible
    from retention.db import sqlalchemy_url
    from retention.policy import load_policy
    from retention.window import RunWindow
    from sqlalchemy import create_engine

    audit = {rule: (rows, parts) for rule, rows, parts in p.rows(
        "select rule, rows_affected, partitions_dropped from retention.rule_audit where run_id = %s", (run_id,))}
    gates = dict(p.rows("select gate, bool_and(success) from retention.quality_results where run_id = %s group by gate",
                        (run_id,)))
    as_of, status = p.rows("select as_of, status from retention.runs where run_id = %s", (run_id,))[0]
    policy = load_policy()
    window = RunWindow.build(backlog_at, policy)
    engine = create_engine(sqlalchemy_url(p.app_url))
    try:
        eligible = count_eligible(engine, window)  # the pipeline's own count of candidates
    finally:
        engine.dispose()
    backlog = {
        **{f"accounts_{reason}": n for reason, n in eligible.items()},
        "connection_logs": p.scalar("select count(*) from app.connection_logs where occurred_at < %s - make_interval("
                                    "years => %s)", (backlog_at, policy.connection_log_retention_years)),
        "prospects": p.scalar("select count(*) from app.prospects where objected_at <= %s or "
                              "greatest(collected_at, last_contact_at) < %s - make_interval(years => %s)",
                              (backlog_at, backlog_at, policy.prospect_retention_years)),
        "files_pending": p.scalar("select count(*) from retention.pending_file_deletions"),
    }
    return {"audit": audit, "gates": gates, "as_of": as_of, "status": status, "backlog": backlog}


def test_retention_page_in_the_airflow_ui(databases, tmp_path, capsys):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed: apt-get install -y chromium chromium-driver")
    from retention.synthetic import generate
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.monotonic() - started - sum(timings.values())

    # The backlog is counted against the wall clock. The run is placed a few minutes ahead of it, so
    # that whatever is overdue when the page is opened (well within that margin) was overdue for the
    # run too: the backlog is then zero by construction, not by luck of the second. The synthetic data
    # is generated as of the same instant, so the test does not age with the calendar.
    run_as_of = (datetime.now(timezone.utc) + timedelta(minutes=10)).replace(microsecond=0)
    p = make_platform(databases)
    password = secrets.token_urlsafe(16)
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: password}))
    # The data is generated while the metadata DB (shared by the in-process run and the api-server) is
    # created, then the api-server boots while the nightly run goes.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seeding = pool.submit(generate, p.app_url, accounts=2000, seed=1, as_of=run_as_of.isoformat(),
                              documents_dir=tmp_path / "docs", progress=False)
        airflow_env.migrate()
        seeding.result()
    lap("seed + metadata DB")
    env = {
        **os.environ,
        "AIRFLOW_CONN_APP_DB": p.pipeline_app_url,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(airflow_env.REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(airflow_env.REPO_ROOT / "plugins"), os.environ.get("PYTHONPATH")])),
    }
    log_file = tmp_path / "api-server.log"
    with api_server(env, log_file) as (proc, base):
        outcome = run_dag(p, as_of=run_as_of.isoformat())
        assert outcome.state == "success", outcome.task_states
        lap("nightly run")
        wait_healthy(proc, base, log_file)
        lap("api-server ready")
        run_id = outcome.run_id

        # Anonymous: refused. The page sends a browser to Airflow's login page, the API says 401.
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as anonymous:
            page = anonymous.get("/retention/")
            assert page.status_code == 307, page.text
            location = urlsplit(page.headers["location"])
            assert location.path == "/auth/login" and parse_qs(location.query)["next"] == ["/retention/"]
            assert "Backlog" not in page.text and "data-figure" not in page.text
            assert anonymous.get("/retention/api/summary").status_code == 401
            assert anonymous.get("/retention/icon.svg").status_code == 401
            assert anonymous.get("/retention/data-docs/").status_code == 307
            forged = {"Authorization": "Bearer not-a-token"}
            assert anonymous.get("/retention/api/summary", headers=forged).status_code == 403
            assert anonymous.get("/retention/", headers=forged).status_code == 307
            assert anonymous.get("/retention/", cookies={"_token": "not-a-token"}).status_code == 307
            # The same Airflow login (a JWT from Airflow's own token endpoint) opens it to an API client.
            token = anonymous.post("/auth/token", json={"username": USER, "password": password})
            assert token.status_code == 201, token.text
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            summary = anonymous.get("/retention/api/summary", headers=bearer)
            assert summary.status_code == 200, summary.text
            assert [r["run_id"] for r in summary.json()["runs"]] == [run_id]
            traversal = anonymous.get("/retention/data-docs/..%2F..%2Fairflow.cfg", headers=bearer)
            assert traversal.status_code == 404
        lap("anonymous checks")

        # A person: Airflow's login page, then the navigation entry, then the page in the UI's frame.
        profile = tempfile.mkdtemp(prefix="rt_chromium_", dir=tmp_path)
        driver = browser(profile)
        try:
            wait = WebDriverWait(driver, 30)
            driver.get(f"{base}/retention/")
            wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(USER)
            assert "/auth/login" in driver.current_url
            driver.find_element(By.NAME, "password").send_keys(password)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            # Back where the login was asked for: the page itself, outside the UI.
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-figure='backlog.verdict']")))
            assert urlsplit(driver.current_url).path == "/retention/"
            lap("browser: login")

            driver.get(f"{base}/")
            nav = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "a[aria-label='Retention']")))
            assert nav.get_attribute("href").endswith("/plugin/retention")
            nav.click()
            frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Retention']")))
            driver.switch_to.frame(frame)
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-figure='backlog.verdict']")))

            def figure(css: str) -> str:
                return driver.find_element(By.CSS_SELECTOR, css).text.strip()

            row = f"tr[data-run-id='{run_id}']"
            page_figures = {
                "anonymise_deceased": figure(f"{row} [data-figure='anonymised_deceased']"),
                "anonymise_closed": figure(f"{row} [data-figure='anonymised_closed']"),
                "anonymise_inactive": figure(f"{row} [data-figure='anonymised_inactive']"),
                "purge_connection_logs": figure(f"{row} [data-figure='logs_purged']"),
                "partitions_dropped": figure(f"{row} [data-figure='partitions_dropped']"),
                "purge_prospects": figure(f"{row} [data-figure='prospects_purged']"),
            }
            backlog_at = datetime.fromisoformat(
                driver.find_element(By.CSS_SELECTOR, "[data-figure='backlog.as_of']").get_attribute("datetime"))
            backlog_shown = {
                key: driver.find_element(By.CSS_SELECTOR, f"[data-figure='backlog.{key}'] .value").text.strip()
                for key in ("accounts_deceased", "accounts_closed", "accounts_inactive", "connection_logs",
                            "prospects", "files_pending")
            }
            gates_shown = {el.get_attribute("data-gate"): el.get_attribute("data-state")
                           for el in driver.find_elements(By.CSS_SELECTOR, f"{row} li[data-gate]")}
            as_of_shown = figure(f"{row} [data-figure='as_of']")
            status_shown = figure(f"{row} [data-figure='status']")
            verdict = figure("[data-figure='backlog.verdict']")
            chart_runs = driver.find_element(By.CSS_SELECTOR, "svg[data-figure='chart']").get_attribute("data-runs")
            policy_rows = {el.get_attribute("data-policy") for el in driver.find_elements(By.CSS_SELECTOR, "tr[data-policy]")}
            docs_link = driver.find_element(By.CSS_SELECTOR, f"{row} li[data-gate='accounts_before'] a")
            docs_href = docs_link.get_attribute("href")
            driver.switch_to.default_content()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOT))
            lap("browser: UI, navigation, page")

            # The Data Docs link opens the gate's Great Expectations site, behind the same login.
            driver.get(docs_href)
            wait.until(lambda d: "Data Docs" in d.title or "Great Expectations" in d.page_source)
            assert urlsplit(driver.current_url).path.startswith("/retention/data-docs/")
            lap("browser: Data Docs")
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "compliance_page_failure.png"))
            raise
        finally:
            driver.quit()

    # Figures shown = what the database holds.
    db = database_figures(p, run_id, backlog_at)
    for rule in RULES:
        assert page_figures[rule] == shown(db["audit"][rule][0]), rule
    assert page_figures["partitions_dropped"] == shown(db["audit"]["purge_connection_logs"][1])
    # Not vacuous: the demo night did something under every rule.
    assert all(db["audit"][rule][0] > 0 for rule in RULES), db["audit"]
    assert db["audit"]["purge_connection_logs"][1] > 0
    assert as_of_shown == instant(db["as_of"]) == instant(run_as_of)
    assert status_shown == db["status"] == "success"
    assert gates_shown == {gate: "passed" for gate in GATES}
    assert db["gates"] == dict.fromkeys(GATES, True)
    assert backlog_shown == {key: shown(n) for key, n in db["backlog"].items()}
    # After a good night nothing is overdue.
    assert all(n == 0 for n in db["backlog"].values()), db["backlog"]
    assert verdict == "Nothing is overdue."
    assert chart_runs == "1"
    assert {"connection_log_retention_years", "account_inactivity_years", "prospect_retention_years"} <= policy_rows
    assert re.search(r"/retention/data-docs/.+/accounts_before/index\.html$", docs_href)
    assert SCREENSHOT.stat().st_size > 10_000

    # The page's engine cannot write, whatever the role behind the connection may do.
    from retention.compliance.queries import make_readonly_engine
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    readonly = make_readonly_engine(p.pipeline_app_url)
    try:
        with pytest.raises(DBAPIError, match="read-only transaction"), readonly.begin() as conn:
            conn.execute(text("delete from retention.runs"))
    finally:
        readonly.dispose()
    assert p.scalar("select count(*) from retention.runs") == 1

    total = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[compliance page] screenshot: {SCREENSHOT}")
        print("[compliance page] timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
              + f"; total {total:.1f} s")
