-- Direct partitions of the parent with their bounds, parsed from the catalog (never guessed from names).
-- pg_get_expr(relpartbound) renders 'DEFAULT' or
-- "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')", where either side may be
-- MINVALUE / MAXVALUE. Bounds are cast back to timestamptz in this session (same TimeZone as the
-- rendering), and only when the parent is range-partitioned on occurred_at alone; otherwise has_range
-- is false and the caller purges the partition row by row instead of dropping it.
with children as (
    select
        c.relname as name,
        format('%I.%I', n.nspname, c.relname) as qualified_name,
        c.relkind = 'p' as is_partitioned,
        pg_get_expr(c.relpartbound, c.oid) as bound,
        pg_get_partkeydef(i.inhparent) = 'RANGE (occurred_at)' as on_occurred_at
    from pg_inherits as i
    inner join pg_class as c on c.oid = i.inhrelid
    inner join pg_namespace as n on n.oid = c.relnamespace
    where i.inhparent = cast(cast(:parent as text) as regclass)
),

parsed as (
    select
        children.*,
        case
            when children.on_occurred_at
                then regexp_match(children.bound, '^FOR VALUES FROM \((.+)\) TO \((.+)\)$')
        end as sides
    from children
)

select
    name,
    qualified_name,
    is_partitioned,
    bound = 'DEFAULT' as is_default,
    sides is not null as has_range,
    coalesce(sides[1] = 'MINVALUE', false) as lower_unbounded,
    coalesce(sides[2] = 'MAXVALUE', false) as upper_unbounded,
    case
        when sides[1] like '''%'''
            then cast(replace(substr(sides[1], 2, length(sides[1]) - 2), '''''', '''') as timestamptz)
    end as lower_bound,
    case
        when sides[2] like '''%'''
            then cast(replace(substr(sides[2], 2, length(sides[2]) - 2), '''''', '''') as timestamptz)
    end as upper_bound
from parsed
order by lower_bound nulls first, name
