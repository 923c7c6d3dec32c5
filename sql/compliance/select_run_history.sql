-- Every recorded (non dry-run) run of the year of proof (as_of in the 12 calendar months that end
-- with the latest as_of's month), plus the :table_runs last started (a backfill of an older month
-- is still listed): when, as of what, status, counts per rule and gates failed. Read from the
-- pipeline's own audit tables only: no personal value, no identity. Newest started first.
-- Indexes: runs_as_of_idx (the year and its max), runs_started_at_idx (the last started),
-- rule_audit's and quality_results' primary keys (per run).
with year as (
    select date_trunc('month', max(as_of) at time zone 'UTC') - interval '11 months' as first_month
    from retention.runs
    where not dry_run
), chosen as (
    select run_id
    from retention.runs
    where not dry_run
      and as_of >= (select first_month at time zone 'UTC' from year)
    union
    select run_id
    from (
        select run_id
        from retention.runs
        where not dry_run
        order by started_at desc, run_id desc
        limit :table_runs
    ) as last_started
)
select
    r.run_id,
    r.as_of,
    r.status,
    r.started_at,
    r.finished_at,
    extract(epoch from (r.finished_at - r.started_at)) as duration_s,
    r.report -> 'cutoffs' as report_cutoffs,
    r.policy,
    a.anonymised_deceased,
    a.anonymised_closed,
    a.anonymised_inactive,
    a.logs_purged,
    a.partitions_dropped,
    a.prospects_purged,
    a.closed_cutoff,
    a.inactive_cutoff,
    a.logs_cutoff,
    a.prospects_cutoff,
    g.gates_recorded,
    g.gates_failed
from chosen as c
join retention.runs as r on r.run_id = c.run_id
cross join lateral (
    select
        coalesce(sum(x.rows_affected) filter (where x.rule = 'anonymise_deceased'), 0) as anonymised_deceased,
        coalesce(sum(x.rows_affected) filter (where x.rule = 'anonymise_closed'), 0) as anonymised_closed,
        coalesce(sum(x.rows_affected) filter (where x.rule = 'anonymise_inactive'), 0) as anonymised_inactive,
        coalesce(sum(x.rows_affected) filter (where x.rule = 'purge_connection_logs'), 0) as logs_purged,
        coalesce(sum(x.partitions_dropped) filter (where x.rule = 'purge_connection_logs'), 0) as partitions_dropped,
        coalesce(sum(x.rows_affected) filter (where x.rule = 'purge_prospects'), 0) as prospects_purged,
        min(x.cutoff) filter (where x.rule = 'anonymise_closed') as closed_cutoff,
        min(x.cutoff) filter (where x.rule = 'anonymise_inactive') as inactive_cutoff,
        min(x.cutoff) filter (where x.rule = 'purge_connection_logs') as logs_cutoff,
        min(x.cutoff) filter (where x.rule = 'purge_prospects') as prospects_cutoff
    from retention.rule_audit as x
    where x.run_id = r.run_id and not x.dry_run
) as a
cross join lateral (
    select count(distinct q.gate) as gates_recorded,
           count(distinct q.gate) filter (where not q.success) as gates_failed
    from retention.quality_results as q
    where q.run_id = r.run_id
) as g
order by r.started_at desc, r.run_id desc
