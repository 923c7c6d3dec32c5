-- Heap pages holding expired rows, sampled through the occurred_at index: for samples + 1 instants
-- spread evenly from the oldest to the newest expired timestamp, the page of the first expired row at or
-- after it. samples + 1 index probes whatever the table's size; the caller turns the pages into the
-- physical ranges worth walking (the walk is exhaustive inside them, stragglers are swept afterwards).
select distinct cast((cast(cast(s.ctid as text) as point))[0] as bigint) as block
from generate_series(0, cast(:samples as int)) as g (i)
cross join lateral (
    select l.ctid
    from {relation} as l
    where
        l.occurred_at >= cast(:oldest as timestamptz)
        + (cast(:newest as timestamptz) - cast(:oldest as timestamptz)) * (g.i / cast(:samples as float8))
        and l.occurred_at < cast(:cutoff as timestamptz)
    order by l.occurred_at
    limit 1
) as s
order by block
