-- Open requests per deadline level as of :as_of, counted in PostgreSQL (no row leaves it): due
-- within :alert_days_before days, overdue. A failed request is still unanswered: it counts.
with days_left as (
    select d.due_on - (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date as days
    from retention.subject_requests as q
    join retention.request_due_dates as d on d.request_id = q.request_id
    where q.state in ('received', 'identity_pending', 'in_progress', 'failed')
)
select
    count(*) as open,
    count(*) filter (where days between 0 and :alert_days_before) as due_soon,
    count(*) filter (where days < 0) as overdue
from days_left
