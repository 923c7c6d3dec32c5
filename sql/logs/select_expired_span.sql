-- Oldest and newest expired timestamps of {relation}: two probes at the ends of the occurred_at index
-- (min/max run as LIMIT 1 index scans), so a night with nothing to delete costs milliseconds.
select
    min(occurred_at) as oldest,
    max(occurred_at) as newest
from {relation}
where occurred_at < cast(:cutoff as timestamptz)
