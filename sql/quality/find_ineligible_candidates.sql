-- Candidates that must never be touched: tombstones, legal holds, directives in force, or no valid
-- reason. The eligible set is spliced in from sql/accounts/select_eligible_accounts.sql.
select e.id
from ({eligible}) as e
join app.accounts as a on a.id = e.id
where a.anonymised_at is not null
    or a.legal_hold_until >= :as_of_date
    or a.post_mortem_retain_until >= :as_of_date
    or e.reason not in ('deceased', 'closed', 'inactive')
    or (e.reason = 'deceased' and not a.deceased_reported_at <= :as_of)
    or (e.reason = 'closed' and not a.closed_at <= :closed_on_or_before)
