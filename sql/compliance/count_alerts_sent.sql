-- Alerts sent per month of the year of proof: a run's alerts in the month of the run's as_of (as the
-- rest of the proof), an alert without a run (a night that never ran) in the month it was sent. Every
-- alert of a run of the year was sent after the year began (a run is alerted after its as_of), so the
-- scan starts at :since on alerts_sent_sent_at_idx.
select
    date_trunc('month', coalesce(r.as_of, a.sent_at) at time zone 'UTC') as month,
    count(*) as alerts
from retention.alerts_sent as a
left join retention.runs as r on r.run_id = a.run_id
where a.sent_at >= :since
group by 1
