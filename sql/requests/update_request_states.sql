-- Moves new and waiting requests on, set-based, as of :as_of (never the wall clock):
--   a later request of the same type for the same subject as an open one -> duplicate;
--   identity not verified by :as_of -> identity_pending (nothing is processed; the clock runs);
--   identity verified -> in_progress;
--   withdrawn by the platform or the DPO (state set to 'withdrawn') -> closed at :as_of, so that
--     its receipt is written; no step acts on it any more.
-- Returns the number of requests moved to each state.
with open_requests as (
    select q.request_id, q.request_type, q.account_id, lower(q.prospect_email) as email, q.received_at, q.state
    from retention.subject_requests as q
    where (q.state in ('received', 'identity_pending', 'in_progress')
           -- still open: an erasure waiting for a hold or directive to end (not one kept by the LCEN)
           or (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive')))
        and q.received_at <= :as_of
),
ranked as (
    select
        o.request_id,
        o.state,
        first_value(o.request_id) over same_subject as first_request,
        row_number() over same_subject as rank_in_subject
    from open_requests as o
    window same_subject as (
        partition by o.request_type, o.account_id, o.email
        order by (o.state = 'received'), o.received_at, o.request_id
    )
),
moved as (
    update retention.subject_requests as q
    set
        state = case
            when r.rank_in_subject > 1 then 'duplicate'
            when q.identity_verified_at is null or q.identity_verified_at > :as_of then 'identity_pending'
            else 'in_progress'
        end,
        state_reason = case when r.rank_in_subject > 1 then 'duplicate of open request ' || r.first_request end,
        completed_at = case when r.rank_in_subject > 1 then cast(:as_of as timestamptz) end,
        updated_at = clock_timestamp()
    from ranked as r
    where q.request_id = r.request_id
        and r.state in ('received', 'identity_pending')
    returning q.state
),
withdrawn as (
    update retention.subject_requests as q
    set completed_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    where q.state = 'withdrawn' and q.completed_at is null and q.received_at <= :as_of
    returning q.state
)
select
    count(*) filter (where state = 'duplicate') as duplicate,
    count(*) filter (where state = 'identity_pending') as identity_pending,
    count(*) filter (where state = 'in_progress') as in_progress,
    (select count(*) from withdrawn) as withdrawn
from moved
