"""The batch scrub is one statement that also aggregates what it deletes (sql/accounts/scrub_batch.sql)."""

import re

from retention.accounts import scrub_statement
from retention.warehouse import STATS_TABLES


def test_every_statistics_table_is_aggregated_from_the_deleted_rows():
    statement = scrub_statement()
    assert "{aggregate_" not in statement, "every placeholder is replaced"
    for table in STATS_TABLES:
        assert re.search(rf"\b{table.name} as \(", statement), table.name
        assert f"as cells_{table.name}" in statement, table.name


def test_no_aggregate_reads_a_child_table_a_second_time():
    """Each child table is reached once, by the statement's own DELETE: an aggregate that read
    app.<child> again would read the batch's scattered pages twice (and see the rows as they were
    before the scrub, not the rows it deleted)."""
    statement = scrub_statement()
    for child in ("education", "experiences", "languages", "applications", "assessments", "activity_events"):
        reads = re.findall(rf"\bapp\.{child}\b", statement)
        assert len(reads) == 1, (child, len(reads))
    assert "app.documents" not in statement, "documents go after their stored files"
