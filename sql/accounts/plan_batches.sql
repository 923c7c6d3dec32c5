-- Cut the eligible accounts into consecutive id ranges of at most :batch_size accounts, and record
-- each batch's accounts in retention.batch_accounts under :plan_id.
-- The eligible set is spliced in from sql/accounts/select_eligible_accounts.sql.
with eligible as (
    {eligible}
),
numbered as (
    select id, reason, (row_number() over (order by id) - 1) / :batch_size as batch_no
    from eligible
),
members as (
    insert into retention.batch_accounts (plan_id, batch_no, account_id, reason)
    select :plan_id, batch_no, id, reason from numbered
)
select
    batch_no::int as batch_no,
    min(id) as id_from,
    max(id) as id_to,
    count(*)::int as accounts,
    count(*) filter (where reason = 'deceased')::int as deceased,
    count(*) filter (where reason = 'closed')::int as closed,
    count(*) filter (where reason = 'inactive')::int as inactive
from numbered
group by batch_no
order by batch_no
