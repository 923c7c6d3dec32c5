-- Which features did former members use, month after month? Members who ever used each feature,
-- their events (each member's events counted up to 10 per feature), and events per member.
select
    m.release_month,
    m.feature,
    m.members,
    m.members_error95,
    e.events,
    e.events_error95,
    round(e.events::numeric / nullif(greatest(m.members, 0), 0), 1) as events_per_member
from published.members_by_feature as m
join published.events_by_feature as e using (release_month, feature)
order by m.feature, m.release_month;
