-- Applications per published project and month.
-- applications: applications submitted in the month; applicants: distinct former members among them;
-- matching_score_avg: mean matching score (0-100) of those applications that had one.
-- Cells of fewer than 5 applicants are hidden: a project's months with few applicants are missing, and
-- applications of unpublished projects are pooled under project_id NULL (left out here).
select project_id, month, applications, applicants, matching_score_avg
from published.project_applications_monthly
where project_id is not null
order by project_id, month nulls last;
