-- The largest number of candidates for any one reason, against the ceiling: a share of the live
-- accounts (policy), never below the policy's floor. One pass over the candidate query.
with per_reason as (
    select e.reason, count(*) as candidates
    from ({eligible}) as e
    group by e.reason
)
select
    coalesce((select max(candidates) from per_reason), 0) as observed,
    greatest(floor(:max_share * (select count(*) from app.accounts where anonymised_at is null)), :ceiling_floor)
        as expected
