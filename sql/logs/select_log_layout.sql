-- How app.connection_logs is stored, read from the catalog: partitioned (relkind 'p') or a plain heap.
select
    c.relkind = 'p' as is_partitioned,
    format('%I.%I', n.nspname, c.relname) as qualified_name
from pg_class as c
inner join pg_namespace as n on n.oid = c.relnamespace
where c.oid = to_regclass('app.connection_logs')
