"""The Retention page for real: Airflow's api-server with the plugin, synthetic data after two real
nightly runs a day apart (the platform living a day between them), placed two days before now as
after `make demo`; a logged-in headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium) whose every request outside 127.0.0.1 fails; figures checked against the database, no false
alarm, links into Airflow followed, Data Docs styled and offline, no console error, anonymous requests
refused. Screenshots in the test's tmp dir (paths printed) and var/test-artifacts/."""

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
from urllib.parse import parse_qs, quote, urlsplit

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
    # The console and every network request, read back to prove the pages need nothing from outside.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={user_data_dir}", "--window-size=1600,2200", "--hide-scrollbars",
                 # Offline and quick: every host but localhost fails to resolve at once (the Data Docs
                 # pages reference CDNs; the Retention page itself references nothing external).
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def requested_urls(driver) -> list[str]:
    """URLs the browser asked for since the last call (the performance log is drained by reading it)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def only_local(urls: list[str]) -> list[str]:
    """The URLs that would have left the machine."""
    return [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in ("127.0.0.1", "localhost")]


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
    from retention.synthetic import advance, generate
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    timings: dict[str, float] = {}
    shots = {name: tmp_path / f"{name}.png" for name in
             ("page", "ui", "airflow_run", "airflow_task_log", "data_docs", "data_docs_check")}

    def lap(name: str) -> None:
        timings[name] = time.monotonic() - started - sum(timings.values())

    # Two nights, three and two days before now (the situation after `make demo`: the last as_of is
    # days old). Counted at the wall clock the backlog holds what became due since, which no run was
    # asked to do: the page must say so, not raise an alarm, and judge the last run at its own as_of.
    # The synthetic data is generated as of the first night, so the test does not age with the calendar.
    first_as_of = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0)
    run_as_of = first_as_of + timedelta(days=1)
    p = make_platform(databases)
    password = secrets.token_urlsafe(16)
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: password}))
    # The data is generated while the metadata DB (shared by the in-process run and the api-server) is
    # created, then the api-server boots while the nightly run goes.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seeding = pool.submit(generate, p.app_url, accounts=2000, seed=1, as_of=first_as_of.isoformat(),
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
        first = run_dag(p, as_of=first_as_of.isoformat())
        assert first.state == "success", first.task_states
        # A busy day, so that the second night has work under every rule at this small size.
        activity = advance(p.app_url, first_as_of, run_as_of, seed=1,
                           rates={"close": 60, "deceased": 40, "object": 300})
        outcome = run_dag(p, as_of=run_as_of.isoformat())
        assert outcome.state == "success", outcome.task_states
        lap("two nightly runs")
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
            assert [r["run_id"] for r in summary.json()["runs"]] == [run_id, first.run_id]
            assert summary.json()["stale"] is True
            proof = anonymous.get("/retention/proof.csv", headers=bearer)
            assert proof.status_code == 200 and proof.headers["content-type"].startswith("text/csv")
            assert "attachment" in proof.headers["content-disposition"]
            proof_lines = proof.text.splitlines()
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

            # The page alone: nothing requested outside 127.0.0.1, no console error.
            requested_urls(driver), console_errors(driver)  # drain what the login page did
            driver.get(f"{base}/retention/")
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-figure='verdict']")))
            page_requests, page_errors = requested_urls(driver), console_errors(driver)
            driver.save_screenshot(str(shots["page"]))

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
            night_verdict = figure("[data-figure='verdict']")
            stale_note = figure("[data-figure='backlog.stale']")
            backlog_class = driver.find_element(By.ID, "backlog").get_attribute("class")
            chart_runs = driver.find_element(By.CSS_SELECTOR, "svg[data-figure='chart']").get_attribute("data-runs")
            chart_dates = [el.text for el in driver.find_elements(By.CSS_SELECTOR, "svg [data-figure='chart.date']")]
            strip = {el.get_attribute("data-state")
                     for el in driver.find_elements(By.CSS_SELECTOR, "svg rect[data-gate-cell]")}
            proof_month = driver.find_elements(By.CSS_SELECTOR, "#proof tr[data-month]")[0].get_attribute("data-month")
            run_link = driver.find_element(By.CSS_SELECTOR, f"{row} a[data-figure='run-link']")
            run_href = run_link.get_attribute("href")
            policy_rows = {el.get_attribute("data-policy") for el in driver.find_elements(By.CSS_SELECTOR, "tr[data-policy]")}
            docs_link = driver.find_element(By.CSS_SELECTOR, f"{row} li[data-gate='accounts_before'] a")
            docs_href = docs_link.get_attribute("href")
            driver.switch_to.default_content()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOT))
            driver.save_screenshot(str(shots["ui"]))
            lap("browser: UI, navigation, page")

            # The run's link opens Airflow's own run page in the UI itself (not a UI inside the frame).
            driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe[title='Retention']"))
            driver.find_element(By.CSS_SELECTOR, f"{row} a[data-figure='run-link']").click()
            driver.switch_to.default_content()
            wait.until(lambda d: urlsplit(d.current_url).path in (
                f"/dags/gdpr_retention/runs/{quote(run_id, safe='')}", f"/dags/gdpr_retention/runs/{run_id}"))
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "iframe[title='Retention']"))
            wait.until(lambda d: "gdpr_retention" in d.find_element(By.TAG_NAME, "body").text)
            driver.save_screenshot(str(shots["airflow_run"]))
            # A task's log link: Airflow's task instance page (its logs tab) for that run.
            driver.get(run_href + "/tasks/report")
            wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'report')]")))
            assert urlsplit(driver.current_url).path.endswith("/tasks/report")
            driver.save_screenshot(str(shots["airflow_task_log"]))
            lap("browser: links into Airflow")

            # The Data Docs link opens the gate's site, behind the same login: styled by the one shared
            # stylesheet, its tables drawn, nothing requested outside 127.0.0.1, no console error.
            requested_urls(driver), console_errors(driver)
            driver.get(docs_href)
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table tbody tr")))
            assert urlsplit(driver.current_url).path.startswith("/retention/data-docs/")
            docs_rows = len(driver.find_elements(By.CSS_SELECTOR, "table tbody tr"))
            docs_font = driver.execute_script("return getComputedStyle(document.body).fontFamily")
            docs_pages = [el.get_attribute("href") for el in driver.find_elements(By.CSS_SELECTOR, "table tbody a")]
            driver.save_screenshot(str(shots["data_docs"]))
            driver.get(docs_pages[0])
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "body")))
            driver.save_screenshot(str(shots["data_docs_check"]))
            docs_requests, docs_errors = requested_urls(driver), console_errors(driver)
            lap("browser: Data Docs")
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "compliance_page_failure.png"))
            raise
        finally:
            driver.quit()

    # Nothing left the machine, nothing broke in the console (the page, then the Data Docs).
    assert page_requests and docs_requests
    assert only_local(page_requests) == [] and only_local(docs_requests) == [], (page_requests, docs_requests)
    assert page_errors == [] and docs_errors == [], (page_errors, docs_errors)
    assert docs_rows >= 2
    assert "system-ui" in docs_font, docs_font  # the shared stylesheet applies (not the browser's serif)

    # Figures shown = what the database holds.
    db = database_figures(p, run_id, backlog_at)
    for rule in RULES:
        assert page_figures[rule] == shown(db["audit"][rule][0]), rule
    assert page_figures["partitions_dropped"] == shown(db["audit"]["purge_connection_logs"][1])
    # Not vacuous: the second night had work from the day the platform lived (and the first had the rest).
    assert all(n > 0 for n in activity.values()), activity
    assert all(db["audit"][rule][0] > 0 for rule in RULES if rule != "anonymise_inactive"), db["audit"]
    assert db["audit"]["purge_connection_logs"][1] + p.scalar(
        "select partitions_dropped from retention.rule_audit where run_id = %s and rule = 'purge_connection_logs'",
        (first.run_id,)) > 0
    assert as_of_shown == instant(db["as_of"]) == instant(run_as_of)
    assert status_shown == db["status"] == "success"
    assert gates_shown == {gate: "passed" for gate in GATES}
    assert db["gates"] == dict.fromkeys(GATES, True)
    assert backlog_shown == {key: shown(n) for key, n in db["backlog"].items()}
    # Counted now, two days after the last as_of: what became due since is there (the pipeline's own
    # count at the last as_of is zero), said plainly, and not an alarm.
    at_last = database_figures(p, run_id, run_as_of)["backlog"]
    assert all(n == 0 for n in at_last.values()), at_last
    assert any(n > 0 for n in db["backlog"].values()), db["backlog"]
    assert verdict.startswith("Nothing is overdue at the last run's as_of")
    assert stale_note.startswith(f"The last run's as_of ({instant(run_as_of)}) is 2.")
    assert "problem" not in backlog_class and "info" in backlog_class
    assert night_verdict == "Every promise kept."
    assert chart_runs == "2"
    assert chart_dates == [first_as_of.strftime("%Y-%m-%d"), run_as_of.strftime("%Y-%m-%d")]
    assert strip == {"passed"}
    assert proof_month == run_as_of.strftime("%Y-%m")
    assert proof_lines[0].startswith("month,nights,runs,runs_failed,")
    assert any(line.startswith(run_as_of.strftime("%Y-%m") + ",") for line in proof_lines[1:])
    assert urlsplit(run_href).path in (f"/dags/gdpr_retention/runs/{quote(run_id, safe='')}",
                                       f"/dags/gdpr_retention/runs/{run_id}")
    assert {"connection_log_retention_years", "account_inactivity_years", "prospect_retention_years"} <= policy_rows
    assert re.search(r"/retention/data-docs/.+/accounts_before/index\.html$", docs_href)
    assert SCREENSHOT.stat().st_size > 10_000
    assert all(path.stat().st_size > 10_000 for path in shots.values())

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
    assert p.scalar("select count(*) from retention.runs") == 2

    total = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[compliance page] screenshots: {SCREENSHOT}; " + "; ".join(str(v) for v in shots.values()))
        print("[compliance page] timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
              + f"; total {total:.1f} s")
