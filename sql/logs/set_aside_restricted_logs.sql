-- Before the purge: the connection logs past :cutoff of accounts whose processing is restricted
-- (retention.restrictions) are set aside, as they were, in retention.restricted_connection_logs,
-- so that the purge may drop partitions and delete batches without exceptions; the set-aside logs
-- of accounts no longer restricted (the restriction was lifted) are deleted: they are all past
-- their year. One transaction, idempotent (a rerun sets nothing aside twice). Counts only.
with set_aside as (
    insert into retention.restricted_connection_logs (log_id, account_id, occurred_at, log_row, set_aside_at)
    select l.id, l.account_id, l.occurred_at, to_jsonb(l), cast(:as_of as timestamptz)
    from app.connection_logs as l
    where l.account_id = any(array(select x.account_id from retention.restrictions as x))
        and l.occurred_at < cast(:cutoff as timestamptz)
    on conflict (log_id) do nothing
    returning 1
),
released as (
    delete from retention.restricted_connection_logs as s
    where not exists (select 1 from retention.restrictions as x where x.account_id = s.account_id)
    returning 1
)
select
    (select count(*) from set_aside) as set_aside,
    (select count(*) from released) as released
