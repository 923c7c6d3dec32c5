"""The pipeline's own schema (`retention`, in the application database) is in the data map exactly:
after a real run of gdpr_subject_requests has migrated it, its tables, views, columns, types and
foreign keys equal the map's `retention` dataset, and the pipeline's role holds the privileges the
map's treatments need. A new table or column there fails this test until it is mapped."""

from __future__ import annotations

import pytest
from dagrun import run_dag
from platform_fixture import make_platform
from retention.datamap import load_datamap

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"


def test_migrated_retention_schema_equals_the_map(databases):
    from retention.db import make_engine
    from retention.drift import find_drift

    p = make_platform(databases)
    assert p.scalar("select count(*) from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
                    "where n.nspname = 'retention' and c.relkind in ('r', 'p', 'v', 'm', 'f')") == 0, \
        "the schema is the run's migration, not the fixture's"
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id="gdpr_subject_requests")
    assert outcome.state == "success", outcome.task_states

    datamap = load_datamap()
    mapped = {t.name for t in datamap.schema("retention")}
    assert {"subject_requests", "restrictions", "restricted_connection_logs", "request_due_dates"} <= mapped
    app = make_engine(p.pipeline_app_url)  # the pipeline's role: its privileges are checked too
    try:
        with app.connect() as conn:
            assert [str(d) for d in find_drift(conn, datamap, "retention")] == []

        # The same comparison fails, naming the table or column, when the schema grows beyond the map.
        with p.app() as c:
            c.execute("alter table retention.inactivity_notices add column email text")
            c.execute("create table retention.notice_recipients (account_id bigint, email text)")
        with app.connect() as conn:
            assert [str(d) for d in find_drift(conn, datamap, "retention")] == [
                "retention.notice_recipients: table not in the data map (2 column(s))",
                "retention.inactivity_notices.email: column not in the data map (text)",
            ]
    finally:
        app.dispose()
