-- Verdict of each data-quality gate of the given runs: passed only if every check passed; the
-- names of the failed checks and the run's Data Docs index (a local path). Counts, never values.
select
    q.run_id,
    q.gate,
    bool_and(q.success) as passed,
    count(*) as checks,
    count(*) filter (where not q.success) as failed,
    coalesce(string_agg(q.check_name, ', ' order by q.check_name) filter (where not q.success), '') as failed_checks,
    max(q.data_docs) as data_docs
from retention.quality_results as q
where q.run_id = any(cast(:run_ids as text[]))
group by q.run_id, q.gate
