"""A local SMTP sink (aiosmtpd) that keeps every alert it receives, for the alert tests."""

from __future__ import annotations

import email
import email.policy

import pytest


class SmtpSink:
    """aiosmtpd handler: keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = "\n".join(part.get_content() for part in parsed.walk() if part.get_content_maintype() == "text")
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "subject": str(parsed["subject"]), "event": str(parsed["X-Retention-Event"]),
                              "body": body, "raw": raw.decode("utf-8", "replace")})
        return "250 Message accepted for delivery"


def email_env(port: int) -> dict[str, str]:
    """The environment that sends the notifier's alerts to the sink on ``port``."""
    return {"AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true&timeout=10"
                                         "&retry_limit=0",
            "RETENTION_ALERT_CHANNEL": "email", "RETENTION_ALERT_EMAILS": "data-team@example.org, oncall@example.org",
            "RETENTION_ALERT_FROM": "gdpr-retention@example.org"}


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller
    from retention.proctree import free_port

    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()
