-- Input of the monthly differentially private release (retention.release): per feature, the
-- batch's members who used it and their events, each member's events clipped per feature to
-- :release_events_per_feature before they are summed, so that one person moves each cell by at most
-- that much (the sensitivity the noise is calibrated to). Keyed by the month of anonymisation: each
-- person enters the release of one month only.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (activity_events_gone).
with per_member as (
    select e.account_id, coalesce(kf.feature, 'other') as feature, least(count(*), :release_events_per_feature) as events
    from activity_events_gone as e
    left join retention.known_features as kf on kf.feature = e.feature
    group by 1, 2
)
select
    date_trunc('month', cast(:as_of as timestamptz) at time zone 'UTC')::date as anonymised_month,
    feature,
    count(*) as members,
    sum(events)::bigint as events
from per_member
group by 1, 2
