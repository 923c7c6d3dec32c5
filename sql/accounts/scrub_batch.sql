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
-- The lists of columns and tables come from the data map (plugins/retention/datamap.yaml, filled in
-- by retention.mapsql); each aggregate placeholder is replaced by sql/accounts/aggregate_<table>.sql.
with members_before as materialized (
    select a.id, b.reason, a.birth_date, a.postal_code, a.country_code
    from app.accounts as a
    join batch_members as b on b.id = a.id
    where a.id = any(array(select id from batch_members))
),
accounts_done as (
    update app.accounts as a
    set {accounts_nulled},
        anonymised_at = :as_of
    where a.id = any(array(select id from batch_members))
    returning 1
),
-- One CTE per account table of the data map: <table>_gone deletes its rows (returning what the
-- aggregates read), <table>_scrubbed nulls its `null` columns (messages: the bodies the member sent).
{account_table_scrubs}
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
{account_table_counts}
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
