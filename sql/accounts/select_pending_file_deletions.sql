-- Stored files that an earlier batch could not delete: retried every night (every `erase file`
-- column of app.documents in the data map, filled in by retention.mapsql).
select d.id, f.uri as storage_uri
from retention.pending_file_deletions as p
join app.documents as d on d.id = p.document_id
cross join lateral unnest(array[{document_file_columns}]) as f (uri)
where f.uri is not null
