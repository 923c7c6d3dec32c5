-- Stored files of the batch's members, to delete from the object store before the rows go.
select d.id, d.account_id, d.storage_uri
from app.documents as d
join batch_members as b on b.id = d.account_id
where d.storage_uri is not null
