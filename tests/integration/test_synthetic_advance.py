"""Synthetic activity between demo nights (retention.synthetic.advance): every kind of event happens,
inside the interval only, deterministically, and it gives the next night work under each rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)
NEXT = AS_OF + timedelta(days=1)


def seeded(databases, tmp_path):
    from retention.synthetic import generate

    p = make_platform(databases)
    generate(p.app_url, accounts=1500, seed=5, as_of=AS_OF.isoformat(), documents_dir=tmp_path / "docs",
             progress=False)
    return p


def test_advance_adds_a_day_of_activity_deterministically(databases, tmp_path):
    from retention.synthetic import SyntheticDataError, advance

    p, q = seeded(databases, tmp_path), seeded(databases, tmp_path)  # same files: same document rows
    before = {
        "logs": p.scalar("select count(*) from app.connection_logs"),
        "prospects": p.scalar("select count(*) from app.prospects"),
        "events": p.scalar("select count(*) from app.activity_events"),
        "closed": p.scalar("select count(*) from app.accounts where closed_at is not null"),
        "deceased": p.scalar("select count(*) from app.accounts where deceased_reported_at is not null"),
    }
    rates = {"deceased": 40}  # the default rate gives a death every few nights at this small size
    counts = advance(p.app_url, AS_OF, NEXT, seed=7, rates=rates)
    assert counts == advance(q.app_url, AS_OF, NEXT, seed=7, rates=rates)  # same seed, same nights: same activity
    assert p.fingerprint() == q.fingerprint()
    assert all(n > 0 for n in counts.values()), counts

    # Every new instant lies in (AS_OF, NEXT]; counts match the rows the database holds.
    assert p.scalar("select count(*) from app.accounts where closed_at is not null") == before["closed"] + counts["closed"]
    assert p.scalar("select count(*) from app.accounts where closed_at > %s and closed_at <= %s",
                    (AS_OF, NEXT)) >= counts["closed"]
    assert (p.scalar("select count(*) from app.accounts where deceased_reported_at is not null")
            == before["deceased"] + counts["deceased"])
    assert p.scalar("select count(*) from app.accounts where deceased_reported_at > %s and deceased_reported_at <= %s",
                    (AS_OF, NEXT)) >= counts["deceased"]
    assert p.scalar("select count(*) from app.accounts where last_login_at > %s and last_login_at <= %s",
                    (AS_OF, NEXT)) == counts["logins"]
    assert p.scalar("select count(*) from app.activity_events") == before["events"] + counts["logins"]
    assert p.scalar("select count(*) from app.connection_logs") == (before["logs"] + counts["logins"]
                                                                    + counts["visitor_logs"])
    assert p.scalar("select count(*) from app.connection_logs where occurred_at > %s", (NEXT,)) == 0
    assert p.scalar("select count(*) from app.prospects") == before["prospects"] + counts["prospects"]
    assert p.scalar("select count(*) from app.prospects where objected_at > %s and objected_at <= %s",
                    (AS_OF, NEXT)) == counts["objections"]
    # The next day, with another seed, other accounts.
    other = advance(p.app_url, NEXT, NEXT + timedelta(days=1), seed=7)
    assert other["closed"] > 0 and p.fingerprint() != q.fingerprint()

    with pytest.raises(SyntheticDataError, match="after"):
        advance(p.app_url, NEXT, AS_OF, seed=7)
