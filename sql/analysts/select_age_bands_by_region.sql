-- Age of former members when anonymised (five-year bands, 'unknown' outside 15-99 or without a birth
-- date) by region ('abroad' outside France, 'unknown' without a usable postal code).
-- Hidden cells make these sums lower bounds.
select region, age_band, sum(members) as members
from published.anonymised_cohorts
group by region, age_band
order by region, age_band;
