-- A month released twice or partly: a table in its ledger without cells or with cells but not in
-- its ledger, a cell count that differs from the ledger's (a cell stored twice, or missing), or a
-- release whose table and cell totals differ from its ledger's.
with cells as (
    select release_month, table_name, count(*) as cells
    from published.released_cells
    group by release_month, table_name
)
select coalesce(l.release_month, c.release_month) as release_month
from published.privacy_ledger as l
full join cells as c on c.release_month = l.release_month and c.table_name = l.table_name
where l.table_name is null or c.table_name is null or l.cells <> c.cells
union all
select r.release_month
from published.releases as r
cross join lateral (
    select count(*) as tables, coalesce(sum(l.cells), 0) as cells
    from published.privacy_ledger as l
    where l.release_month = r.release_month
) as l
where l.tables <> r.tables or l.cells <> r.cells
