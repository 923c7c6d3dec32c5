-- Age of former members when anonymised (five-year bands, 'unknown' outside 15-99 or without a birth
-- date) by region ('abroad' outside France, 'unknown' without a usable postal code), for the latest
-- released month. Every cell is there, zeros included; a value within its error bound of zero
-- (or negative: noise) means "about none".
select region, age_band, members, members_error95,
       members > members_error95 as clearly_above_zero
from published.members_by_age_band_region
where release_month = (select max(release_month) from published.releases)
order by region, age_band;
