-- What a run of gdpr_subject_requests has to do (the quiet run's only query, on a partial index):
-- requests new or verified, and erasures kept under a hold or directive whose date has passed.
-- A request waiting for its identity proof is not actionable (its clock runs all the same).
-- Must cover every state the steps of gdpr_subject_requests act on (process.py).
select count(*) as actionable
from retention.subject_requests as q
where q.state in ('received', 'identity_pending', 'in_progress', 'partially_fulfilled')
    and (
        q.state = 'received'
        -- Types not processed yet (access, portability, an account's objection) wait in progress
        -- without making every run busy.
        or (q.state = 'in_progress' and (q.request_type in ('erasure', 'restriction', 'lift_restriction')
                                         or (q.prospect_email is not null and q.request_type = 'objection')))
        or (q.state = 'identity_pending' and q.identity_verified_at <= :as_of)
        or (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive')
            and q.kept_until < :as_of_date)
    )
