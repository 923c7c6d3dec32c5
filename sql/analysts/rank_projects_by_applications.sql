-- The ten published projects that drew the most applications from former members, with their
-- applicant-months (an applicant who applied in two months counts twice) and an average matching
-- score weighted by each month's applications. Only months with at least 5 applicants are published.
select
    project_id,
    sum(applications) as applications,
    sum(applicants) as applicant_months,
    count(*) as months,
    round(sum(matching_score_avg * applications) / nullif(sum(applications) filter (where matching_score_avg is not null), 0), 2)
        as matching_score_avg
from published.project_applications_monthly
where project_id is not null
group by project_id
order by applications desc, project_id
limit 10;
