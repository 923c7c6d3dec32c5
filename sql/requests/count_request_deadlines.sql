-- Open requests per deadline level as of :as_of, counted in PostgreSQL (no row leaves it): due
-- within 7 days, overdue. The due date is the rule of retention.requests.deadlines (one calendar
-- month after receipt in Paris, three when the extension was recorded in time), as in
-- insert_request_receipts.sql.
with open_requests as (
    select
        (q.received_at at time zone 'Europe/Paris')::date as received_on,
        coalesce(btrim(q.extension_reason), '') <> ''
            and (q.extended_at at time zone 'Europe/Paris')::date
                <= cast((q.received_at at time zone 'Europe/Paris')::date + interval '1 month' as date)
            as valid_extension
    from retention.subject_requests as q
    where q.state in ('received', 'identity_pending', 'in_progress')
),
days_left as (
    select
        cast(o.received_on + case when o.valid_extension then interval '3 months' else interval '1 month' end as date)
            - (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date as days
    from open_requests as o
)
select
    count(*) as open,
    count(*) filter (where days between 0 and :alert_days_before) as due_soon,
    count(*) filter (where days < 0) as overdue
from days_left
