-- Every column of every table and view of schema :schema as the catalog has it (partitions are
-- their parent's rows: left out), with the pipeline's own rights on the table. Read from pg_catalog,
-- not information_schema: information_schema.columns hides the columns of a table the current role
-- has no privilege on, which is exactly the new table a platform team forgot to tell us about.
-- Names and types only: never a row of data.
select
    c.relname as table_name,
    a.attname as column_name,
    format_type(a.atttypid, a.atttypmod) as data_type,
    c.relkind in ('r', 'p') as is_table,
    has_table_privilege(c.oid, 'UPDATE') as can_update,
    has_table_privilege(c.oid, 'DELETE') as can_delete
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = :schema
    and c.relkind in ('r', 'p', 'v', 'm', 'f')
    and not c.relispartition
order by c.relname, a.attnum
