-- Accounts anonymised by this run, ids in [:id_from, :id_to], that still hold a personal column or
-- a child row; with :batch_no, only the accounts tonight's plan gave that batch (a batch's own
-- verification, right after its commit: its accounts by primary key, never a scan of its id range).
-- The child tables are probed with all of the night's tombstones at once (`= any(array(...))`: a
-- bitmap scan that visits the heap in physical order). Right after a night every index entry of a
-- deleted row still leads to its heap page until VACUUM: probed account by account, those ~2.7
-- million visits at 1,000,000 accounts came in random order and took 21 s on cold pages.
-- The personal columns and the account tables come from the data map (retention.mapsql).
-- (Documents whose stored file is awaiting deletion are reported by finalize_accounts instead.)
with tombstone as materialized (
    select
        a.id,
        {tombstone_personal_columns} as holds_personal_columns
    from app.accounts as a
    where a.anonymised_at = :as_of
        and a.id between :id_from and :id_to
        and (
            cast(:batch_no as integer) is null
            or a.id = any(array(select m.account_id from retention.batch_accounts as m
                                where m.plan_id = :plan_id and m.batch_no = :batch_no))
        )
)
select t.id from tombstone as t where t.holds_personal_columns
{tombstone_leftovers}
union
select x.account_id from app.documents as x
where x.account_id = any(array(select id from tombstone))
    and not exists (select 1 from retention.pending_file_deletions as p where p.document_id = x.id)
