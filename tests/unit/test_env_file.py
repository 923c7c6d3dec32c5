"""`.env` values read by make stack (retention.deployenv) as docker compose reads them."""

from __future__ import annotations

from pathlib import Path

from retention.deployenv import OPERATOR_SETTINGS, generate_secrets, read_env_file, render


def test_quoted_values_lose_their_quotes_as_in_compose(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# docs/operations.md's example\n"
        "AIRFLOW_CONN_SMTP_DEFAULT='smtp://alerts%40example.org:s#cret@smtp.example.org:587?from_email=x'\n"
        'RETENTION_ALERT_FROM="GDPR \\"retention\\" <gdpr@example.org>"\n'
        "RETENTION_ALERT_EMAILS=a@example.org,b@example.org  # the data team\n"
        "RETENTION_STACK_WORKERS=2\n"
    )
    assert read_env_file(path) == {
        "AIRFLOW_CONN_SMTP_DEFAULT": "smtp://alerts%40example.org:s#cret@smtp.example.org:587?from_email=x",
        "RETENTION_ALERT_FROM": 'GDPR "retention" <gdpr@example.org>',
        "RETENTION_ALERT_EMAILS": "a@example.org,b@example.org",
        "RETENTION_STACK_WORKERS": "2",
    }


def test_generated_secrets_read_back_unchanged(tmp_path: Path) -> None:
    values = {"AIRFLOW_UID": "1000", **generate_secrets(),
              **{name: default for name, (default, _) in OPERATOR_SETTINGS.items()}}
    path = tmp_path / ".env"
    path.write_text(render(values))
    assert read_env_file(path) == values
    assert values["AIRFLOW__CORE__FERNET_KEY"].endswith("=")
    from cryptography.fernet import Fernet

    Fernet(values["RETENTION_PACKAGE_KEY"].encode())  # a usable package key


def test_a_secret_added_later_is_appended_to_an_existing_env_file(tmp_path: Path) -> None:
    from retention.deployenv import ensure_env_file

    values = {"AIRFLOW_UID": "1000", **generate_secrets(),
              **{name: default for name, (default, _) in OPERATOR_SETTINGS.items()}}
    del values["RETENTION_PACKAGE_KEY"]
    path = tmp_path / ".env"
    path.write_text("\n".join(f"{k}={v}" for k, v in values.items()) + "\n")
    read = ensure_env_file(path)
    assert {k: read[k] for k in values} == values and read["RETENTION_PACKAGE_KEY"]
    assert ensure_env_file(path) == read  # once
