-- Unanswered data-subject requests (failed ones included: still unanswered) with their due date
-- and days left at :now (Paris calendar days), most urgent first. Request ids, types, states and
-- dates only: never the person. open_total counts them all (the list stops at :max_rows).
select
    q.request_id,
    q.request_type,
    case when q.account_id is not null then 'account' when q.prospect_email is not null then 'prospect' end
        as subject_kind,
    q.state,
    (q.received_at at time zone 'Europe/Paris')::date as received_on,
    q.identity_verified_at is not null and q.identity_verified_at <= :now as identity_verified,
    d.due_on,
    d.extended,
    d.due_on - (cast(:now as timestamptz) at time zone 'Europe/Paris')::date as days_left,
    count(*) over () as open_total
from retention.subject_requests as q
join retention.request_due_dates as d on d.request_id = q.request_id
where q.state in ('received', 'identity_pending', 'in_progress', 'failed')
    and q.received_at <= :now
order by d.due_on, q.received_at, q.request_id
limit :max_rows
