-- How many accounts were anonymised each month, and why (closed, inactive, deceased)?
-- anonymised_month is the month (UTC) of the nightly run that anonymised them. Hidden cells (fewer than
-- 5 members of one age band, region and education level) are missing from these sums: they are lower
-- bounds, not exact counts.
select anonymised_month, reason, sum(members) as members_at_least
from published.anonymised_cohorts
group by anonymised_month, reason
order by anonymised_month, reason;
