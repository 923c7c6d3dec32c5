-- Accounts planned tonight (retention.batch_accounts, frozen by plan_account_batches from the
-- eligibility query) that must never be touched: tombstones, legal holds, directives in force, or
-- no valid reason. Reads the plan instead of evaluating the eligibility query a second time.
select m.account_id
from retention.batch_accounts as m
join retention.account_batches as b on b.plan_id = m.plan_id and b.batch_no = m.batch_no and b.status = 'planned'
join app.accounts as a on a.id = m.account_id
where a.anonymised_at is not null
    or a.legal_hold_until >= :as_of_date
    or a.post_mortem_retain_until >= :as_of_date
    or m.reason not in ('deceased', 'closed', 'inactive')
    or (m.reason = 'deceased' and not a.deceased_reported_at <= :as_of)
    or (m.reason = 'closed' and not a.closed_at <= :closed_on_or_before)
