"""The batch scrub is one statement that also aggregates what it deletes (sql/accounts/scrub_batch.sql)."""

import re

from retention.accounts import scrub_statement
from retention.datamap import load_datamap
from retention.warehouse import STATS_TABLES


def reads_of(statement: str, table: str) -> list[str]:
    """References to app.<table>, quoted (generated from the data map) or not."""
    return re.findall(rf'"?\bapp"?\."?{table}\b"?', statement)


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
    children = [t.name for t in load_datamap().scrubbed_tables()]
    assert len(children) >= 6
    for child in children:
        assert len(reads_of(statement, child)) == 1, (child, reads_of(statement, child))
    assert reads_of(statement, "documents") == [], "documents go after their stored files"
