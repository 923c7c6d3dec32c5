-- Irreversible scrub of the batch, one statement: a tombstone per account (id, created_at,
-- closed_at, anonymised_at), every child row deleted, bodies of sent messages erased.
-- Documents whose file could not be deleted (kept_documents) keep their row for the next night.
with accounts_done as (
    update app.accounts as a
    set email = null, first_name = null, last_name = null, phone = null, address_line = null,
        postal_code = null, city = null, country_code = null, birth_date = null, nationality = null,
        linkedin_url = null, work_authorisation = null, availability = null, last_login_at = null,
        deceased_reported_at = null, post_mortem_retain_until = null, legal_hold_until = null,
        anonymised_at = :as_of
    from batch_members as b
    where a.id = b.id
    returning 1
),
education_done as (
    delete from app.education as x using batch_members as b where x.account_id = b.id returning 1
),
experiences_done as (
    delete from app.experiences as x using batch_members as b where x.account_id = b.id returning 1
),
languages_done as (
    delete from app.languages as x using batch_members as b where x.account_id = b.id returning 1
),
documents_done as (
    delete from app.documents as x using batch_members as b
    where x.account_id = b.id and not exists (select 1 from kept_documents as k where k.id = x.id)
    returning 1
),
applications_done as (
    delete from app.applications as x using batch_members as b where x.account_id = b.id returning 1
),
assessments_done as (
    delete from app.assessments as x using batch_members as b where x.account_id = b.id returning 1
),
activity_events_done as (
    delete from app.activity_events as x using batch_members as b where x.account_id = b.id returning 1
),
messages_done as (
    update app.messages as m set body = null
    from batch_members as b
    where m.sender_id = b.id and m.body is not null
    returning 1
)
select
    (select count(*) from accounts_done) as accounts,
    (select count(*) from education_done) as education,
    (select count(*) from experiences_done) as experiences,
    (select count(*) from languages_done) as languages,
    (select count(*) from documents_done) as documents,
    (select count(*) from applications_done) as applications,
    (select count(*) from assessments_done) as assessments,
    (select count(*) from activity_events_done) as activity_events,
    (select count(*) from messages_done) as message_bodies
