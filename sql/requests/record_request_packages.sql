-- The packages written (:packages, one JSON array: request id, location, sha256 and size of the
-- encrypted file, counts per table): each request fulfilled with its counts, its package kept until
-- the as-of's Paris date + :retention_days. The receipts follow in the same transaction.
with built as (
    select b.request_id, b.uri, b.sha256, b.bytes, b.counts
    from jsonb_to_recordset(cast(:packages as jsonb)) as b(request_id text, uri text, sha256 text, bytes bigint, counts jsonb)
)
update retention.subject_requests as q
set state = 'fulfilled',
    result_counts = b.counts,
    package_uri = b.uri,
    package_sha256 = b.sha256,
    package_bytes = b.bytes,
    package_expires_on = (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date + cast(:retention_days as int),
    package_deleted_at = null,
    completed_at = cast(:as_of as timestamptz),
    updated_at = clock_timestamp()
from built as b
where q.request_id = b.request_id and q.state = 'in_progress'
