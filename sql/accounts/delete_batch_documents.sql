-- The batch's document rows, once their stored files are gone. Documents whose file could not be
-- deleted (kept_documents) keep their row: the next night retries the file, then the row.
with documents_gone as (
    delete from app.documents as x
    where x.account_id = any(array(select id from batch_members))
        and not exists (select 1 from kept_documents as k where k.id = x.id)
    returning 1
)
select count(*) as documents from documents_gone
