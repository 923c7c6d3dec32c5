-- Accounts anonymised by this run, ids in [:id_from, :id_to], that still hold a personal column or
-- a child row; with :batch_no, only the accounts tonight's plan gave that batch (a batch's own
-- verification, right after its commit: its accounts by primary key, never a scan of its id range).
-- The child tables are probed with all of the night's tombstones at once (`= any(array(...))`: a
-- bitmap scan that visits the heap in physical order). Right after a night every index entry of a
-- deleted row still leads to its heap page until VACUUM: probed account by account, those ~2.7
-- million visits at 1,000,000 accounts came in random order and took 21 s on cold pages.
-- (Documents whose stored file is awaiting deletion are reported by finalize_accounts instead.)
with tombstone as materialized (
    select
        a.id,
        num_nonnulls(a.email, a.first_name, a.last_name, a.phone, a.address_line, a.postal_code, a.city,
                     a.country_code, a.birth_date, a.nationality, a.linkedin_url, a.work_authorisation,
                     a.availability, a.last_login_at, a.deceased_reported_at, a.post_mortem_retain_until,
                     a.legal_hold_until) > 0 as holds_personal_columns
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
union
select x.account_id from app.education as x where x.account_id = any(array(select id from tombstone))
union
select x.account_id from app.experiences as x where x.account_id = any(array(select id from tombstone))
union
select x.account_id from app.languages as x where x.account_id = any(array(select id from tombstone))
union
select x.account_id from app.applications as x where x.account_id = any(array(select id from tombstone))
union
select x.account_id from app.assessments as x where x.account_id = any(array(select id from tombstone))
union
select x.account_id from app.activity_events as x where x.account_id = any(array(select id from tombstone))
union
select x.sender_id from app.messages as x
where x.sender_id = any(array(select id from tombstone)) and x.body is not null
union
select x.account_id from app.documents as x
where x.account_id = any(array(select id from tombstone))
    and not exists (select 1 from retention.pending_file_deletions as p where p.document_id = x.id)
