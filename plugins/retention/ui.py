"""``make ui``: the Airflow UI (``airflow standalone``) on the demo's metadata DB and databases."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from retention.demo import APP_DB, VAR, WAREHOUSE_DB, airflow_env, db_url


def main() -> None:
    from retention.localpg import ensure_postgres
    from retention.roles import PIPELINE_ROLE

    admin_url = ensure_postgres(VAR / "pg")
    env = airflow_env(db_url(admin_url, APP_DB, PIPELINE_ROLE), db_url(admin_url, WAREHOUSE_DB, PIPELINE_ROLE))
    env.setdefault("AIRFLOW__API__PORT", "8080")
    passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    print(f"[ui] Airflow UI on http://localhost:{env['AIRFLOW__API__PORT']} (DAG gdpr_retention, the demo run under Runs)")
    print(f"[ui] login: user 'admin', password in {passwords} (written at first start)")
    airflow = str(Path(sys.executable).with_name("airflow"))
    import subprocess

    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([airflow, "pools", "set", "retention_app_db", "2", "gdpr_retention: application DB sessions"],
                   env=env, check=True, capture_output=True)
    os.execve(airflow, [airflow, "standalone"], env)


if __name__ == "__main__":
    main()
