-- Requests answered (final state) since :since, per state, and how many after their due date
-- (from the receipts: no person). A request has one receipt per final state it reached; its first
-- answer is what the deadline judges.
with answers as (
    select distinct on (r.request_id) r.request_id, r.state, r.completed_at, r.due_on
    from retention.request_receipts as r
    where r.completed_at >= :since
    order by r.request_id, r.completed_at, r.recorded_at
)
select
    a.state,
    count(*) as answered,
    count(*) filter (where (a.completed_at at time zone 'Europe/Paris')::date > a.due_on) as late
from answers as a
group by a.state
order by a.state
