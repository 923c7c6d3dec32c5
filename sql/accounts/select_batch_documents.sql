-- Stored files of the batch's members, to delete from the object store before the rows go: one
-- row per file, from every `erase file` column of app.documents in the data map (retention.mapsql).
select d.id, d.account_id, f.uri as storage_uri
from app.documents as d
join batch_members as b on b.id = d.account_id
cross join lateral unnest(array[{document_file_columns}]) as f (uri)
where f.uri is not null
