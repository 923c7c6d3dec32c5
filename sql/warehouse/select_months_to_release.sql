-- Closed months to release: from the first month anyone was anonymised up to the month before
-- :current_month (the run's as-of month, UTC), every month not released yet, empty months included
-- (an absent month would say "nobody" exactly).
select m::date as release_month
from generate_series(
    (select min(anonymised_month) from stats.anonymised_cohorts),
    cast(:current_month as date) - interval '1 month',
    interval '1 month'
) as m
where not exists (select from published.releases as r where r.release_month = m::date)
order by 1
