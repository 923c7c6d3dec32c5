-- The packages deleted (or found already gone) by delete_expired_packages: recorded once.
update retention.subject_requests as q
set package_deleted_at = cast(:as_of as timestamptz), updated_at = clock_timestamp()
where q.request_id = any(cast(:request_ids as text[])) and q.package_deleted_at is null
