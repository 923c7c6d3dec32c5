-- Foreign keys between tables of schema :schema, one row per column pair (partitions' copies of
-- their parent's keys left out): the drift gate follows them from app.accounts to every table
-- that hangs off it, directly or through a child.
select
    src.relname as table_name,
    sa.attname as column_name,
    dst.relname as ref_table,
    da.attname as ref_column
from pg_constraint as k
join pg_class as src on src.oid = k.conrelid
join pg_namespace as sn on sn.oid = src.relnamespace
join pg_class as dst on dst.oid = k.confrelid
join pg_namespace as dn on dn.oid = dst.relnamespace
cross join lateral unnest(k.conkey, k.confkey) as pair(src_att, dst_att)
join pg_attribute as sa on sa.attrelid = k.conrelid and sa.attnum = pair.src_att
join pg_attribute as da on da.attrelid = k.confrelid and da.attnum = pair.dst_att
where k.contype = 'f'
    and sn.nspname = :schema
    and dn.nspname = :schema
    and not src.relispartition
order by 1, 2
