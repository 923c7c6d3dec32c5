-- What a run of gdpr_subject_requests has to do (the quiet run's only query, on partial indexes):
-- requests new, verified or withdrawn, erasures kept under a hold or directive whose date has passed, answered
-- requests whose link to their person has expired, and deadline alerts owed.
-- A request waiting for its identity proof is not actionable (its clock runs all the same).
-- A package past its retention (request_package_retention_days) is, on its own partial index.
-- Must cover every state the steps of gdpr_subject_requests act on (process.py); the unlinking's
-- conditions are those of unlink_answered_requests.sql, the alerts' select_request_alerts.sql.
select
    (select count(*)
     from retention.subject_requests as q
     where q.state in ('received', 'identity_pending', 'in_progress', 'partially_fulfilled')
         and (
             q.state in ('received', 'in_progress')
             or (q.state = 'identity_pending' and q.identity_verified_at <= :as_of)
             -- still unproven on its due date: refused (refuse_unproven_requests.sql)
             or (q.state = 'identity_pending' and exists (
                 select 1 from retention.request_due_dates as d
                 where d.request_id = q.request_id
                     and d.due_on < (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date))
             or (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive')
                 and q.kept_until < :as_of_date)
         ))
    + (select count(*)
       from retention.subject_requests as q
       where q.state = 'withdrawn' and q.completed_at is null and q.received_at <= :as_of)
    + (select count(*)
       from retention.subject_requests as q
       where q.unlinked_at is null
           and q.state in ('fulfilled', 'partially_fulfilled', 'refused', 'withdrawn', 'duplicate', 'failed')
           and q.completed_at < cast(:as_of as timestamptz) - make_interval(years => cast(:link_retention_years as int))
           and not (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive'))
           and not exists (select 1 from retention.restrictions as x where x.request_id = q.request_id))
    + (select count(*)
       from retention.subject_requests as q
       where q.package_uri is not null and q.package_deleted_at is null
           and q.package_expires_on < (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date)
    + (select count(*) from ({alerts}) as a) as actionable
