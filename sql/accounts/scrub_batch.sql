-- Irreversible scrub of the batch and its statistics, in one statement: a tombstone per account
-- (id, created_at, closed_at, anonymised_at), every child row deleted, bodies of sent messages
-- erased; the cells of the statistics tables (and the release inputs) are aggregated from the rows the deletes return,
-- so each child row is read once (an aggregate pass before the deletes read the batch's scattered
-- pages twice: ~70 % of activity_events per batch of 10,000 accounts).
-- Every part of one statement reads the same snapshot: members_before sees the accounts as they
-- were before accounts_done scrubs them.
-- Tables are reached by their account_id index (`= any(array(...))`, never a join the planner
-- could turn into a scan of a whole child table); the aggregates then join small in-memory sets.
-- Documents are not deleted here: their stored files go first (delete_batch_documents.sql).
-- The placeholders in braces are replaced by sql/accounts/aggregate_<table>.sql (retention.accounts).
with members_before as materialized (
    select a.id, b.reason, a.birth_date, a.postal_code, a.country_code
    from app.accounts as a
    join batch_members as b on b.id = a.id
    where a.id = any(array(select id from batch_members))
),
accounts_done as (
    update app.accounts as a
    set email = null, first_name = null, last_name = null, phone = null, address_line = null,
        postal_code = null, city = null, country_code = null, birth_date = null, nationality = null,
        linkedin_url = null, work_authorisation = null, availability = null, last_login_at = null,
        deceased_reported_at = null, post_mortem_retain_until = null, legal_hold_until = null,
        anonymised_at = :as_of
    where a.id = any(array(select id from batch_members))
    returning 1
),
education_gone as (
    delete from app.education as x where x.account_id = any(array(select id from batch_members))
    returning x.account_id, x.level
),
experiences_gone as (
    delete from app.experiences as x where x.account_id = any(array(select id from batch_members))
    returning x.account_id, x.is_annotation
),
languages_gone as (
    delete from app.languages as x where x.account_id = any(array(select id from batch_members))
    returning x.account_id, x.language, x.level
),
applications_gone as (
    delete from app.applications as x where x.account_id = any(array(select id from batch_members))
    returning x.account_id, x.project_id, x.applied_at, x.matching_score
),
assessments_gone as (
    delete from app.assessments as x where x.account_id = any(array(select id from batch_members))
    returning x.account_id, x.assessment_code, x.score, x.completed_at
),
activity_events_gone as (
    delete from app.activity_events as x where x.account_id = any(array(select id from batch_members))
    returning x.account_id, x.feature, x.occurred_at
),
messages_done as (
    update app.messages as m set body = null
    where m.sender_id = any(array(select id from batch_members)) and m.body is not null
    returning 1
),
anonymised_cohorts as (
{aggregate_anonymised_cohorts}
),
feature_usage_monthly as (
{aggregate_feature_usage_monthly}
),
project_applications_monthly as (
{aggregate_project_applications_monthly}
),
language_levels as (
{aggregate_language_levels}
),
assessment_results as (
{aggregate_assessment_results}
),
experience_profiles as (
{aggregate_experience_profiles}
),
release_feature_usage as (
{aggregate_release_feature_usage}
),
release_languages as (
{aggregate_release_languages}
),
release_project_applicants as (
{aggregate_release_project_applicants}
)
select
    (select count(*) from accounts_done) as accounts,
    (select count(*) from education_gone) as education,
    (select count(*) from experiences_gone) as experiences,
    (select count(*) from languages_gone) as languages,
    (select count(*) from applications_gone) as applications,
    (select count(*) from assessments_gone) as assessments,
    (select count(*) from activity_events_gone) as activity_events,
    (select count(*) from messages_done) as message_bodies,
    (select coalesce(json_agg(c), '[]')::text from anonymised_cohorts as c) as cells_anonymised_cohorts,
    (select coalesce(json_agg(c), '[]')::text from feature_usage_monthly as c) as cells_feature_usage_monthly,
    (select coalesce(json_agg(c), '[]')::text from project_applications_monthly as c)
        as cells_project_applications_monthly,
    (select coalesce(json_agg(c), '[]')::text from language_levels as c) as cells_language_levels,
    (select coalesce(json_agg(c), '[]')::text from assessment_results as c) as cells_assessment_results,
    (select coalesce(json_agg(c), '[]')::text from experience_profiles as c) as cells_experience_profiles,
    (select coalesce(json_agg(c), '[]')::text from release_feature_usage as c) as cells_release_feature_usage,
    (select coalesce(json_agg(c), '[]')::text from release_languages as c) as cells_release_languages,
    (select coalesce(json_agg(c), '[]')::text from release_project_applicants as c) as cells_release_project_applicants
