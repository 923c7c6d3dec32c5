-- Former members who had applied to each published project, per released month: every published
-- project is there, zeros included; clearly_above_zero marks the values over their 95 percent bound.
-- project_id NULL pools the projects that were not published when the members left.
select release_month, project_id, applicants, applicants_error95,
       applicants > applicants_error95 as clearly_above_zero
from published.applicants_by_project
order by release_month, applicants desc;
