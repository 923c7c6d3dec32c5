-- Access and portability requests in progress (identity verified), whatever the account's state:
-- a restriction or a legal hold does not block access. Locked, and each counts one more attempt
-- (a request whose package keeps failing is set to failed by fail_exhausted_requests.sql).
-- Returns the request ids, types and account ids (a prospect's e-mail stays in the database:
-- select_package_prospects.sql joins it there).
with requested as (
    select q.request_id
    from retention.subject_requests as q
    where q.state = 'in_progress' and q.request_type in ('access', 'portability')
    order by q.request_id
    for update
)
update retention.subject_requests as q
set attempts = q.attempts + 1, updated_at = clock_timestamp()
from requested as r
where q.request_id = r.request_id
returning q.request_id, q.request_type, q.account_id
