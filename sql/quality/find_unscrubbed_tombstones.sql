-- Accounts anonymised by this run, ids in [:id_from, :id_to], that still hold a personal column or
-- a child row.
-- (Documents whose stored file is awaiting deletion are reported by finalize_accounts instead.)
select a.id
from app.accounts as a
where a.anonymised_at = :as_of
    and a.id between :id_from and :id_to
    and (
        num_nonnulls(a.email, a.first_name, a.last_name, a.phone, a.address_line, a.postal_code, a.city,
                     a.country_code, a.birth_date, a.nationality, a.linkedin_url, a.work_authorisation,
                     a.availability, a.last_login_at, a.deceased_reported_at, a.post_mortem_retain_until,
                     a.legal_hold_until) > 0
        or exists (select 1 from app.education as x where x.account_id = a.id)
        or exists (select 1 from app.experiences as x where x.account_id = a.id)
        or exists (select 1 from app.languages as x where x.account_id = a.id)
        or exists (select 1 from app.applications as x where x.account_id = a.id)
        or exists (select 1 from app.assessments as x where x.account_id = a.id)
        or exists (select 1 from app.activity_events as x where x.account_id = a.id)
        or exists (select 1 from app.messages as x where x.sender_id = a.id and x.body is not null)
        or exists (
            select 1 from app.documents as x
            where x.account_id = a.id
                and not exists (select 1 from retention.pending_file_deletions as p where p.document_id = x.id)
        )
    )
