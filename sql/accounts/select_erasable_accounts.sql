-- Accounts to anonymise now on an erasure request (gdpr_subject_requests), restricted to ids in
-- [:id_from, :id_to], all with reason 'erasure': an open request whose identity was verified by
-- :as_of, and nothing that keeps the account (a legal hold or a post-mortem directive in force, a
-- restriction, an open access or portability request). Re-evaluated under the batch's row locks,
-- like select_eligible_accounts.sql: a request withdrawn or a hold set since the plan stops the
-- erasure.
select a.id, 'erasure' as reason
from app.accounts as a
where
    a.anonymised_at is null
    and a.id between :id_from and :id_to
    and (a.legal_hold_until is null or a.legal_hold_until < :as_of_date)
    and (a.post_mortem_retain_until is null or a.post_mortem_retain_until < :as_of_date)
    and not exists (select 1 from retention.accounts_held_by_requests as h where h.account_id = a.id)
    and exists (
        select 1 from retention.subject_requests as q
        where q.account_id = a.id
            and q.request_type = 'erasure'
            and q.state in ('in_progress', 'partially_fulfilled')
            and q.identity_verified_at <= :as_of
    )
