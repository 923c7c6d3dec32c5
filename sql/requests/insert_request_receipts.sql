-- The receipt of every request that reached a final state in this transaction: type, dates, state,
-- reason, counts per table, the code and policy versions and the gates this run passed. No person:
-- the request id is random; the link stays in retention.subject_requests. The due date comes from
-- retention.request_due_dates (the rule of retention.requests.deadlines).
insert into retention.request_receipts (
    request_id, state, request_type, subject_kind, received_at, identity_verified_at, due_on, extended,
    completed_at, state_reason, kept_reason, kept_until, counts, run_id, as_of, code_version, policy_version, gates_passed,
    package_sha256, package_bytes
)
select
    q.request_id,
    q.state,
    q.request_type,
    case when q.account_id is not null then 'account' else 'prospect' end,
    q.received_at,
    q.identity_verified_at,
    d.due_on,
    d.extended,
    coalesce(q.completed_at, cast(:as_of as timestamptz)),
    q.state_reason,
    q.kept_reason,
    q.kept_until,
    q.result_counts,
    :run_id,
    :as_of,
    :code_version,
    :policy_version,
    (select coalesce(jsonb_agg(distinct g.gate || '.' || g.check_name), '[]'::jsonb)
     from retention.quality_results as g
     where g.run_id = :run_id and g.success),
    q.package_sha256,
    q.package_bytes
from retention.subject_requests as q
join retention.request_due_dates as d on d.request_id = q.request_id
where q.state in ('fulfilled', 'partially_fulfilled', 'refused', 'withdrawn', 'duplicate', 'failed')
    and q.updated_at >= now()
on conflict (request_id, state) do nothing
