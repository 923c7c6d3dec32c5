-- Requests in progress that failed :max_attempts times are set to failed (visible on the page and
-- in the receipts) instead of being retried for ever; the error's class is in the reason.
update retention.subject_requests as q
set state = 'failed',
    state_reason = 'gave up after ' || q.attempts || ' attempts; last error: ' || coalesce(q.last_error_class, 'unknown'),
    completed_at = cast(:as_of as timestamptz),
    updated_at = clock_timestamp()
where q.state = 'in_progress' and q.attempts >= :max_attempts
