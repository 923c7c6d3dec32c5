-- First statement of a batch transaction: lock the accounts the plan gave this batch (by primary
-- key, never a scan of the id range) that are still possibly eligible (on account columns only).
-- Rows the application holds right now are skipped, not waited for: they are busy, hence active,
-- and stay for another night.
-- Once locked, the application cannot add activity to these accounts (its foreign keys need a
-- KEY SHARE lock) until the batch commits, so the eligibility re-check that follows is final.
with locked as (
    select a.id
    from app.accounts as a
    where
        a.id in (select m.account_id from retention.batch_accounts as m
                 where m.plan_id = :plan_id and m.batch_no = :batch_no)
        and a.id between :id_from and :id_to
        and a.anonymised_at is null
        -- An erasure request's batch (:requested) asks for the account whatever its dates.
        and (
            cast(:requested as boolean)
            or a.deceased_reported_at <= :as_of
            or a.closed_at <= :closed_on_or_before
            or greatest(a.created_at, a.last_login_at) < :inactive_before
        )
    order by a.id
    for update of a skip locked
)
insert into batch_locked (id)
select id from locked
