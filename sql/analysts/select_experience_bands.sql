-- How many professional experiences did former members list (0, 1, 2-3, 4+)? Per released month,
-- with the share of the month's members.
select
    release_month,
    experience_band,
    members,
    members_error95,
    round(100.0 * members / nullif(sum(members) over (partition by release_month), 0), 1) as pct_of_month
from published.members_by_experience_band
order by release_month, experience_band;
