-- The receipt of every request that reached a final state in this transaction: type, dates, state,
-- reason, counts per table. No person: the request id is random; the link stays in
-- retention.subject_requests. The due date is computed as retention.requests.deadlines does
-- (one calendar month after receipt in Paris, three when the extension was recorded in time;
-- PostgreSQL's date + interval clamps to the month's end too).
insert into retention.request_receipts (
    request_id, state, request_type, subject_kind, received_at, identity_verified_at, due_on, extended,
    completed_at, state_reason, kept_reason, kept_until, counts, run_id, as_of
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
    :as_of
from retention.subject_requests as q
cross join lateral (
    select
        (q.received_at at time zone 'Europe/Paris')::date as received_on,
        coalesce(btrim(q.extension_reason), '') <> ''
            and (q.extended_at at time zone 'Europe/Paris')::date
                <= cast((q.received_at at time zone 'Europe/Paris')::date + interval '1 month' as date) as valid_extension
) as r
cross join lateral (
    select
        cast(r.received_on + case when r.valid_extension then interval '3 months' else interval '1 month' end as date)
            as due_on,
        r.valid_extension as extended
) as d
where q.state in ('fulfilled', 'partially_fulfilled', 'refused', 'withdrawn', 'duplicate', 'failed')
    and q.updated_at >= now()
on conflict (request_id, state) do nothing
