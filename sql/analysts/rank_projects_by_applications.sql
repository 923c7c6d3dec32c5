-- The ten published projects with the most former members among their applicants, over every
-- released month (each member counted once per project, in at most five projects), with the
-- bound of each sum.
select
    project_id,
    sum(applicants) as applicants,
    round(max(applicants_error95) * sqrt(count(*))) as applicants_error95
from published.applicants_by_project
where project_id is not null
group by project_id
order by applicants desc
limit 10;
