-- Candidates that must never be touched: tombstones, legal holds, directives in force, accounts
-- held by a request (restricted, or with an open access or portability request:
-- retention.accounts_held_by_requests), or no valid reason. The candidates (id, reason) are
-- spliced in: tonight's plan (sql/quality/select_planned_candidates.sql), or in a dry run, which
-- plans nothing, the eligibility query itself (sql/accounts/select_eligible_accounts.sql).
select c.id
from ({candidates}) as c
join app.accounts as a on a.id = c.id
where a.anonymised_at is not null
    or a.legal_hold_until >= :as_of_date
    or a.post_mortem_retain_until >= :as_of_date
    or exists (select 1 from retention.accounts_held_by_requests as h where h.account_id = c.id)
    or c.reason not in ('deceased', 'closed', 'inactive')
    or (c.reason = 'deceased' and not a.deceased_reported_at <= :as_of)
    or (c.reason = 'closed' and not a.closed_at <= :closed_on_or_before)
