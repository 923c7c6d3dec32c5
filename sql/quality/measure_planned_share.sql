-- The largest number of accounts planned tonight for any one reason (the ledger rows that
-- plan_account_batches just wrote, none processed yet), against the ceiling: a share of the live
-- accounts (policy), never below the policy's floor. Reads the ledger, so the candidate query is
-- not evaluated again (find_ineligible_candidates evaluates it once, independently of the plan).
-- The live accounts are counted by one sequential pass (the FILTER keeps the planner off the
-- partial indexes): after a large night, until VACUUM, an index-only scan fetches nearly every
-- heap page in index order (2.2 s at 1,000,000 accounts, against 0.3 s for the pass).
with planned as (
    select coalesce(sum(deceased), 0) as deceased, coalesce(sum(closed), 0) as closed,
           coalesce(sum(inactive), 0) as inactive
    from retention.account_batches
    where status = 'planned' and source = 'nightly'
)
select
    greatest(planned.deceased, planned.closed, planned.inactive) as observed,
    greatest(floor(:max_share * (select count(*) filter (where a.anonymised_at is null) from app.accounts as a)), :ceiling_floor)
        as expected
from planned
