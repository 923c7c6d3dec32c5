"""The deployment's one settings file, ``.env`` beside ``docker-compose.yaml``.

``make stack`` (the Celery topology from the project's ``.venv``) and ``docker compose`` read the
same file: compose for its ``${...}`` substitutions and, through ``env_file``, as the environment of
every Airflow service; :mod:`retention.stack` by :func:`read_env_file`. It is created once, by
``make env`` or the first ``make stack``, with fresh random secrets (nothing a stranger could
guess, nothing shared between two installations), mode 0600, and is git-ignored. Alert settings
are left empty for the operator to fill (docs/operations.md).

    python -m retention.deployenv [--path .env]    # create it if missing, print where it is
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / ".env"

# The settings, in the order they are written, with the comment written above each.
SECRETS = {
    "AIRFLOW_DB_PASSWORD": "password of the metadata database's role `airflow`",
    "POSTGRES_ADMIN_PASSWORD": "password of `postgres`, administrator of app-db and warehouse-db (compose only)",
    "RETENTION_DB_PASSWORD": "password of the least-privilege role `retention_pipeline` (never a superuser)",
    "AIRFLOW_ADMIN_PASSWORD": "password of the Airflow UI user `admin`",
    "AIRFLOW__CORE__FERNET_KEY": "encrypts connection passwords stored in the metadata database",
    "AIRFLOW__API_AUTH__JWT_SECRET": "signs the tokens of task processes and UI sessions: one value for every service",
    "AIRFLOW__API__SECRET_KEY": "signs log requests between services: one value for every service",
    "RETENTION_PACKAGE_KEY": "encrypts access and portability packages (Fernet); the DPO decrypts with it "
                             "(docs/requests.md); a new key cannot open packages made under the old one",
}
# Secrets added after the first installations: appended to an existing .env (a fresh value breaks nothing).
ADDED_LATER = ("RETENTION_PACKAGE_KEY",)
OPERATOR_SETTINGS = {
    "RETENTION_ALERT_CHANNEL": ("email", "email or webhook (docs/operations.md)"),
    "RETENTION_ALERT_EMAILS": ("", "alert recipients, comma-separated"),
    "RETENTION_ALERT_FROM": ("", "alert sender; default: the SMTP connection's from_email"),
    "AIRFLOW_CONN_SMTP_DEFAULT": ("", "SMTP relay, e.g. smtp://user:password@smtp.example.org:587?from_email=..."),
    "RETENTION_ALERT_WEBHOOK_URL": ("", "with RETENTION_ALERT_CHANNEL=webhook: where alerts are POSTed"),
    "RETENTION_STACK_WORKERS": ("2", "task processes per Celery worker (make stack; compose: worker concurrency)"),
}


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def generate_secrets() -> dict[str, str]:
    values = {name: secrets.token_urlsafe(24) for name in SECRETS}
    values["AIRFLOW__CORE__FERNET_KEY"] = _fernet_key()
    values["RETENTION_PACKAGE_KEY"] = _fernet_key()
    values["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_hex(32)
    values["AIRFLOW__API__SECRET_KEY"] = secrets.token_hex(32)
    return values


def render(values: dict[str, str]) -> str:
    lines = ["# Deployment settings for `make stack` and `docker compose` (one file, both read it).",
             "# Generated once with random secrets; keep it private (mode 0600, git-ignored).", ""]
    lines.append(f"# uid owning the files the containers write (compose)\nAIRFLOW_UID={values['AIRFLOW_UID']}\n")
    for name, comment in SECRETS.items():
        lines.append(f"# {comment}\n{name}={values[name]}\n")
    for name, (_, comment) in OPERATOR_SETTINGS.items():
        lines.append(f"# {comment}\n{name}={values.get(name, '')}\n")
    return "\n".join(lines)


def read_env_file(path: Path = DEFAULT_PATH) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them (comments and blank lines skipped, no interpolation)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE")
        values[key.strip()] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    """A value as compose's .env parser gives it: 'single' quotes literal, "double" quotes with \\ escapes,
    unquoted values end at `` #`` (a comment). docs/operations.md quotes the SMTP URI, for example."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        escapes = {"n": "\n", '"': '"', "\\": "\\"}
        inner, out, i = value[1:-1], [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner) and inner[i + 1] in escapes:
                out.append(escapes[inner[i + 1]])
                i += 2
            else:
                out.append(inner[i])
                i += 1
        return "".join(out)
    return value.split(" #", 1)[0].rstrip()


def ensure_env_file(path: Path = DEFAULT_PATH) -> dict[str, str]:
    """Create ``path`` with fresh secrets unless it exists; return its settings (missing secrets refused)."""
    if not path.exists():
        values = {"AIRFLOW_UID": str(os.getuid()), **generate_secrets(),
                  **{name: default for name, (default, _) in OPERATOR_SETTINGS.items()}}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(render(values))
    values = read_env_file(path)
    added = [name for name in ADDED_LATER if not values.get(name)]
    if added:  # a .env made before the secret existed: appended, nothing else changes
        fresh = generate_secrets()
        with open(path, "a") as out:
            out.write("".join(f"\n# {SECRETS[name]}\n{name}={fresh[name]}\n" for name in added))
        values = read_env_file(path)
    missing = [name for name in SECRETS if not values.get(name)]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: delete it and run `make env` to generate a new one")
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    existed = args.path.exists()
    ensure_env_file(args.path)
    print(f"[env] {'using' if existed else 'created'} {args.path} (secrets generated once; alerts: fill RETENTION_ALERT_*)")


if __name__ == "__main__":
    main()
