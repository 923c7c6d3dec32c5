-- The deadline alerts this run owes, as of :as_of (Paris calendar day): an unanswered request
-- (failed included) within :alert_days_before days of its due date that was never alerted as
-- due_soon, and an overdue one not yet alerted today. Request ids, types and dates only.
with unanswered as (
    select
        q.request_id,
        q.request_type,
        q.state,
        d.due_on,
        d.extended,
        d.due_on - (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date as days_left
    from retention.subject_requests as q
    join retention.request_due_dates as d on d.request_id = q.request_id
    where q.state in ('received', 'identity_pending', 'in_progress', 'failed')
        and q.received_at <= :as_of
)
select
    u.request_id,
    u.request_type,
    u.state,
    u.due_on,
    u.extended,
    u.days_left,
    case when u.days_left < 0 then 'overdue' else 'due_soon' end as level
from unanswered as u
where u.days_left <= :alert_days_before
    and not exists (
        select 1
        from retention.request_alerts as a
        where a.request_id = u.request_id
            and a.level = case when u.days_left < 0 then 'overdue' else 'due_soon' end
            and (a.level = 'due_soon'
                 or a.alerted_on = (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date)
    )
order by u.due_on, u.request_id
