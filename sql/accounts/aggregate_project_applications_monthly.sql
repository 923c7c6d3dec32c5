-- Applications of the batch by project and month of application. Projects not published at
-- :as_of are pooled under a NULL project_id: only published projects are reported one by one.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (applications_gone).
select
    case when pr.published_at <= :as_of then p.project_id end as project_id,
    -- A month Python cannot hold (BC, infinity, after 9999) is an unknown (NULL) month.
    case
        when p.applied_at >= timestamptz '0001-01-01 00:00:00+00' and p.applied_at < timestamptz '10000-01-01 00:00:00+00'
            then date_trunc('month', p.applied_at at time zone 'UTC')::date
    end as month,
    count(*) as applications,
    count(distinct p.account_id) as applicants,
    coalesce(sum(p.matching_score), 0) as matching_score_sum,
    count(p.matching_score) as matching_score_count
from applications_gone as p
join app.projects as pr on pr.id = p.project_id
group by 1, 2
