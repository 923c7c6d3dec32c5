-- Tonight's plan: the accounts plan_account_batches froze per batch (from the eligibility query),
-- none processed yet. Reading it spares the before-gate a second evaluation of that query.
select m.account_id as id, m.reason
from retention.batch_accounts as m
join retention.account_batches as b
    on b.plan_id = m.plan_id and b.batch_no = m.batch_no and b.status = 'planned' and b.source = 'nightly'
