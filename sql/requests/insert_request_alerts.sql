-- Records the deadline alerts just handed to the channel (one row per request and level, per
-- Paris day for overdue ones), so that the next run does not send them again.
insert into retention.request_alerts (request_id, level, alerted_on, run_id)
select r.request_id, r.level, (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date, :run_id
from unnest(cast(:request_ids as text[]), cast(:levels as text[])) as r (request_id, level)
on conflict do nothing
