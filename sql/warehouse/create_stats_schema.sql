-- What the pipeline owns in the statistics warehouse. Idempotent: every run executes it first.
-- Aggregates only: no row describes one person, no column holds a person's id, hash or key.
-- Cells are unique with NULLS NOT DISTINCT so that an unknown month (a NULL timestamp in the
-- source) is a cell of its own rather than a lost count.
do $$
begin
    -- Pre-created by the administrator in a least-privilege setup: only create what is missing.
    if not exists (select from pg_namespace where nspname = 'stats') then
        create schema stats;
    end if;
    if not exists (select from pg_namespace where nspname = 'published') then
        create schema published;
    end if;
end
$$;

create table if not exists stats.settings (
    singleton     boolean primary key default true check (singleton),
    min_cell_size int not null check (min_cell_size >= 2)
);

-- Exactly-once bookkeeping: a batch's contribution is applied once, kept as "pending" deltas
-- until the application database confirms the scrub, and reversed if the scrub never committed.
create table if not exists stats.applied_batches (
    warehouse_key text primary key,
    state         text not null default 'pending' check (state in ('pending', 'confirmed')),
    applied_at    timestamptz not null default clock_timestamp(),
    confirmed_at  timestamptz
);

create table if not exists stats.anonymised_cohorts (
    anonymised_month date not null,
    reason           text not null check (reason in ('deceased', 'closed', 'inactive')),
    age_band         text not null,
    region           text not null,
    education_level  text not null,
    members          bigint not null check (members >= 0),
    unique nulls not distinct (anonymised_month, reason, age_band, region, education_level)
);

create table if not exists stats.feature_usage_monthly (
    month   date,
    feature text not null,
    events  bigint not null check (events >= 0),
    members bigint not null check (members >= 0),
    unique nulls not distinct (month, feature)
);

create table if not exists stats.project_applications_monthly (
    project_id           bigint,  -- NULL pools the applications of unpublished projects
    month                date,
    applications         bigint not null check (applications >= 0),
    applicants           bigint not null check (applicants >= 0),
    matching_score_sum   numeric not null default 0,
    matching_score_count bigint not null default 0,
    matching_score_avg   numeric generated always as
        (case when matching_score_count > 0 then matching_score_sum / matching_score_count end) stored,
    unique nulls not distinct (project_id, month)
);

create table if not exists stats.language_levels (
    anonymised_month date not null,
    language         text not null,
    level            text not null,
    members          bigint not null check (members >= 0),
    unique nulls not distinct (anonymised_month, language, level)
);

create table if not exists stats.assessment_results (
    month           date,
    assessment_code text not null,
    score_band      text not null,
    results         bigint not null check (results >= 0),
    members         bigint not null check (members >= 0),
    score_sum       numeric not null default 0,
    score_count     bigint not null default 0,
    unique nulls not distinct (month, assessment_code, score_band)
);

create table if not exists stats.experience_profiles (
    anonymised_month      date not null,
    reason                text not null,
    annotation_experience text not null,
    experience_band       text not null,
    members               bigint not null check (members >= 0),
    unique nulls not distinct (anonymised_month, reason, annotation_experience, experience_band)
);

-- Pending deltas, one table per statistics table, keyed by the batch that wrote them.
create table if not exists stats.anonymised_cohorts_pending (
    warehouse_key text not null, anonymised_month date, reason text, age_band text, region text,
    education_level text, members bigint not null
);
create table if not exists stats.feature_usage_monthly_pending (
    warehouse_key text not null, month date, feature text, events bigint not null, members bigint not null
);
create table if not exists stats.project_applications_monthly_pending (
    warehouse_key text not null, project_id bigint, month date, applications bigint not null,
    applicants bigint not null, matching_score_sum numeric not null, matching_score_count bigint not null
);
create table if not exists stats.language_levels_pending (
    warehouse_key text not null, anonymised_month date, language text, level text, members bigint not null
);
create table if not exists stats.assessment_results_pending (
    warehouse_key text not null, month date, assessment_code text, score_band text, results bigint not null,
    members bigint not null, score_sum numeric not null, score_count bigint not null
);
create table if not exists stats.experience_profiles_pending (
    warehouse_key text not null, anonymised_month date, reason text, annotation_experience text,
    experience_band text, members bigint not null
);
create index if not exists anonymised_cohorts_pending_key on stats.anonymised_cohorts_pending (warehouse_key);
create index if not exists feature_usage_monthly_pending_key on stats.feature_usage_monthly_pending (warehouse_key);
create index if not exists project_applications_monthly_pending_key on stats.project_applications_monthly_pending (warehouse_key);
create index if not exists language_levels_pending_key on stats.language_levels_pending (warehouse_key);
create index if not exists assessment_results_pending_key on stats.assessment_results_pending (warehouse_key);
create index if not exists experience_profiles_pending_key on stats.experience_profiles_pending (warehouse_key);

-- Analysts read these views only: every cell with fewer than k people is hidden.
create or replace view published.anonymised_cohorts as
select anonymised_month, reason, age_band, region, education_level, members
from stats.anonymised_cohorts
where members >= (select min_cell_size from stats.settings);

create or replace view published.feature_usage_monthly as
select month, feature, events, members
from stats.feature_usage_monthly
where members >= (select min_cell_size from stats.settings);

create or replace view published.project_applications_monthly as
select project_id, month, applications, applicants, round(matching_score_avg, 2) as matching_score_avg
from stats.project_applications_monthly
where applicants >= (select min_cell_size from stats.settings);

create or replace view published.language_levels as
select anonymised_month, language, level, members
from stats.language_levels
where members >= (select min_cell_size from stats.settings);

create or replace view published.assessment_results as
select month, assessment_code, score_band, results, members,
       round(case when score_count > 0 then score_sum / score_count end, 2) as score_avg
from stats.assessment_results
where members >= (select min_cell_size from stats.settings);

create or replace view published.experience_profiles as
select anonymised_month, reason, annotation_experience, experience_band, members
from stats.experience_profiles
where members >= (select min_cell_size from stats.settings);
