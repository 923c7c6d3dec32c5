-- The batch's activity events by the month they happened; unknown features become 'other'.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (activity_events_gone).
select
    -- A month Python cannot hold (BC, infinity, after 9999) is an unknown (NULL) month.
    case
        when e.occurred_at >= timestamptz '0001-01-01 00:00:00+00' and e.occurred_at < timestamptz '10000-01-01 00:00:00+00'
            then date_trunc('month', e.occurred_at at time zone 'UTC')::date
    end as month,
    coalesce(kf.feature, 'other') as feature,
    count(*) as events,
    count(distinct e.account_id) as members
from activity_events_gone as e
left join retention.known_features as kf on kf.feature = e.feature
group by 1, 2
