-- How good are the matches? Distribution of the monthly average matching score (0-100) of each
-- project, in ten-point bands, with the applications behind each band.
-- Individual scores are never published: this is a distribution of project-month averages, and only
-- of the project-months with at least 5 applicants.
select
    band_from::text || '-' || case when band_from = 90 then '100' else (band_from + 9)::text end as score_band,
    count(*) as project_months,
    sum(applications) as applications
from (
    select least(floor(matching_score_avg / 10) * 10, 90)::int as band_from, applications
    from published.project_applications_monthly
    where matching_score_avg is not null
) as cell
group by band_from
order by band_from;
