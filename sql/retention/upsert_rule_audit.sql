-- One row per run and rule; a retried task overwrites its own row, never adds a second one.
insert into retention.rule_audit
    (run_id, rule, as_of, cutoff, dry_run, rows_affected, partitions_dropped, details, duration_s)
values
    (:run_id, :rule, :as_of, :cutoff, :dry_run, :rows_affected, :partitions_dropped, cast(:details as jsonb), :duration_s)
on conflict (run_id, rule) do update set
    as_of = excluded.as_of,
    cutoff = excluded.cutoff,
    dry_run = excluded.dry_run,
    rows_affected = retention.rule_audit.rows_affected + excluded.rows_affected,
    partitions_dropped = retention.rule_audit.partitions_dropped + excluded.partitions_dropped,
    details = excluded.details,
    duration_s = retention.rule_audit.duration_s + excluded.duration_s,
    recorded_at = clock_timestamp()
