-- Current size of {relation} in heap pages (the upper end of any physical walk).
select pg_relation_size(cast(cast(:relation_name as text) as regclass)) / cast(current_setting('block_size') as bigint) as pages
