-- Open requests with their due dates (same rule as insert_request_receipts.sql): counts per alert
-- level for the run's summary; the days left of each open request for the page. No subject.
select
    q.request_id,
    q.request_type,
    q.state,
    q.received_at,
    q.extended_at,
    q.extension_reason is not null as has_extension_reason
from retention.subject_requests as q
where q.state in ('received', 'identity_pending', 'in_progress')
