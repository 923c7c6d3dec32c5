-- The last :max_runs recorded (non dry-run) runs, newest first: when, as of what, status, cutoffs and
-- counts per rule. Read from the pipeline's own audit tables only: no personal value, no identity.
select
    r.run_id,
    r.as_of,
    r.status,
    r.started_at,
    r.finished_at,
    extract(epoch from (r.finished_at - r.started_at)) as duration_s,
    r.report -> 'cutoffs' as report_cutoffs,
    r.policy,
    coalesce(sum(a.rows_affected) filter (where a.rule = 'anonymise_deceased'), 0) as anonymised_deceased,
    coalesce(sum(a.rows_affected) filter (where a.rule = 'anonymise_closed'), 0) as anonymised_closed,
    coalesce(sum(a.rows_affected) filter (where a.rule = 'anonymise_inactive'), 0) as anonymised_inactive,
    coalesce(sum(a.rows_affected) filter (where a.rule = 'purge_connection_logs'), 0) as logs_purged,
    coalesce(sum(a.partitions_dropped) filter (where a.rule = 'purge_connection_logs'), 0) as partitions_dropped,
    coalesce(sum(a.rows_affected) filter (where a.rule = 'purge_prospects'), 0) as prospects_purged,
    min(a.cutoff) filter (where a.rule = 'anonymise_closed') as closed_cutoff,
    min(a.cutoff) filter (where a.rule = 'anonymise_inactive') as inactive_cutoff,
    min(a.cutoff) filter (where a.rule = 'purge_connection_logs') as logs_cutoff,
    min(a.cutoff) filter (where a.rule = 'purge_prospects') as prospects_cutoff,
    count(a.rule) as audited_rules
from (
    select run_id, as_of, status, started_at, finished_at, report, policy
    from retention.runs
    where not dry_run
    order by started_at desc, run_id desc
    limit :max_runs
) as r
left join retention.rule_audit as a on a.run_id = r.run_id and not a.dry_run
group by r.run_id, r.as_of, r.status, r.started_at, r.finished_at, r.report, r.policy
order by r.started_at desc, r.run_id desc
