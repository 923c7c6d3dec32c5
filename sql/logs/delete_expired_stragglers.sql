-- Sweep of expired rows the page walk did not meet (rows stored outside the sampled ranges, or written
-- behind it): the next batch_rows of them in occurred_at order from the position "after", through the
-- index, deleted by ctid. The position advances every batch, so dead entries are never rescanned.
with victims as (
    select
        l.ctid,
        l.occurred_at
    from {relation} as l
    where
        l.occurred_at >= cast(:after as timestamptz)
        and l.occurred_at < cast(:cutoff as timestamptz)
    order by l.occurred_at
    limit cast(:batch_rows as int)
),

deleted as (
    delete from {relation} as l
    where
        l.ctid = any(array(select v.ctid from victims as v))
        and l.occurred_at < cast(:cutoff as timestamptz)
    returning 1
)

select
    (select count(*) from victims) as found,
    (select count(*) from deleted) as rows_deleted,
    (select max(v.occurred_at) from victims as v) as last_at
