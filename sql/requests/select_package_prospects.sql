-- The prospect rows of the run's prospect package requests (:request_ids), matched on the e-mail
-- case-insensitively as delete_requested_prospects.sql does. {prospect_columns}: the data map's
-- key and personal columns of app.prospects (retention.requests.package). Streamed.
select q.request_id, {prospect_columns}
from retention.subject_requests as q
join app.prospects as x on lower(btrim(x.email)) = lower(btrim(q.prospect_email))
where q.request_id = any(cast(:request_ids as text[])) and q.prospect_email is not null
order by q.request_id, x.id
