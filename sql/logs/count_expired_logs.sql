-- Dry run: how many rows of {relation} are older than the cutoff (index-only scan on occurred_at).
select count(*) as expired
from {relation}
where occurred_at < cast(:cutoff as timestamptz)
