-- One check's result for a run's gate (a rerun of the gate replaces it). Counts and names only.
insert into retention.quality_results
    (run_id, gate, check_name, success, observed, expected, description, data_docs)
values (:run_id, :gate, :name, :success, :observed, :expected, :description, :docs)
on conflict (run_id, gate, check_name) do update set
    success = excluded.success,
    observed = excluded.observed,
    expected = excluded.expected,
    description = excluded.description,
    data_docs = excluded.data_docs,
    recorded_at = clock_timestamp();
