-- What the ledger says was removed, all batches ever: the warehouse must hold exactly this.
select
    coalesce(sum(deceased + closed + inactive + erased), 0)::bigint as members,
    coalesce(sum((rows_deleted ->> 'activity_events')::bigint), 0)::bigint as events,
    coalesce(sum((rows_deleted ->> 'applications')::bigint), 0)::bigint as applications
from retention.account_batches
where status = 'done'
