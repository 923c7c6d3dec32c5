-- Stored files that an earlier batch could not delete: retried every night.
select d.id, d.storage_uri
from retention.pending_file_deletions as p
join app.documents as d on d.id = p.document_id
