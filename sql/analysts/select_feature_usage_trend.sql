-- Feature usage over time: events per feature and month, the feature's share of the month's
-- published events, and the change since the feature's previous published month.
-- members = distinct former members who used the feature that month; the same person counts again in
-- other months and features, so never add members across rows. Cells of fewer than 5 members are
-- hidden, so shares are shares of what is published.
select
    month,
    feature,
    events,
    members,
    round(100.0 * events / sum(events) over (partition by month), 1) as pct_of_month_events,
    events - lag(events) over (partition by feature order by month) as events_change
from published.feature_usage_monthly
where month is not null
order by feature, month;
