-- One batch: expired rows stored in heap pages [first_tid, end_tid) of {relation}.
-- Runs as a TID Range Scan over those pages only (no index walk, no rescan); the occurred_at predicate
-- keeps every row at or after the cutoff, including rows the application inserts meanwhile.
delete from {relation}
where
    ctid >= cast(:first_tid as tid)
    and ctid < cast(:end_tid as tid)
    and occurred_at < cast(:cutoff as timestamptz)
