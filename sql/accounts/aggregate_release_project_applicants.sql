-- Input of the monthly differentially private release (retention.release): members who applied,
-- per project published at :as_of (the others pooled under a NULL project_id). A member counts once
-- per project, and in at most :release_projects_per_member projects (their latest applications
-- first), so that one person moves at most that many cells by one. Keyed by the month of
-- anonymisation: each person enters the release of one month only.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (applications_gone).
with applied as (
    select
        p.account_id,
        case when pr.published_at <= :as_of then p.project_id end as project_id,
        max(p.applied_at) as last_applied_at
    from applications_gone as p
    join app.projects as pr on pr.id = p.project_id
    group by 1, 2
),
clipped as (
    select project_id,
        row_number() over (partition by account_id order by last_applied_at desc nulls last, project_id) as nth
    from applied
)
select
    date_trunc('month', cast(:as_of as timestamptz) at time zone 'UTC')::date as anonymised_month,
    project_id,
    count(*) as members
from clipped
where nth <= :release_projects_per_member
group by 1, 2
