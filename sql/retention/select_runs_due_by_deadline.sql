-- The nightly runs the watchdog judges at :check_at (the deadline instant): those whose as_of falls in
-- tonight's window, and any run still open, or finished late, more than :max_hours after it started
-- (a run triggered by hand included). Ids, instants and states only.
select run_id, as_of, status, started_at, finished_at,
       (as_of >= :night_start and as_of <= :check_at) as tonight
from retention.runs
where not dry_run
  and (
        (as_of >= :night_start and as_of <= :check_at)
     or (started_at <= :check_at - make_interval(hours => :max_hours)
         and (finished_at is null or finished_at > :check_at)
         and started_at > :check_at - interval '7 days')
  )
order by started_at;
