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


-- Exactly-once bookkeeping: a batch's contribution is recorded as "pending" cells before its
-- scrub commits, applied to the statistics tables once the application database confirms the
-- scrub, and dropped if the scrub never committed.
create table if not exists stats.applied_batches (
    warehouse_key text primary key,
    state         text not null default 'pending' check (state in ('pending', 'confirmed')),
    applied_at    timestamptz not null default clock_timestamp(),
    confirmed_at  timestamptz
);
-- Whether the batch's cells are already in the statistics tables. Versions before this column
-- applied them when the batch was recorded (a pending batch of theirs is reversed by subtraction):
-- their rows take the default; this version records every batch with false.
alter table stats.applied_batches add column if not exists cells_applied boolean not null default true;

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

-- Pending cells: a batch's cells per statistics table, one JSON array (as the batch computed it),
-- until the batch's scrub is known to have committed (confirm: applied) or not (reverse: dropped).
-- One row per table and batch: thousands of cells per batch cost one insert, not thousands. Kept
-- as json text, uncompressed: written once and read once. As compressed jsonb, writing a batch of
-- 10,000 accounts (20,000 cells) cost 0.20 s; as json, writing and reading it cost 0.12 s.
create table if not exists stats.pending_cells (
    warehouse_key text not null,
    table_name    text not null,
    cells         json not null constraint pending_cells_cells_check check (json_typeof(cells) = 'array'),
    primary key (warehouse_key, table_name)
);
-- The first version of this table held jsonb: converted, with whatever a crashed batch left in it.
do $$
begin
    if (select a.atttypid = 'jsonb'::regtype from pg_attribute as a
        where a.attrelid = 'stats.pending_cells'::regclass and a.attname = 'cells') then
        alter table stats.pending_cells drop constraint if exists pending_cells_cells_check;
        alter table stats.pending_cells alter column cells type json using cells::json;
        alter table stats.pending_cells add constraint pending_cells_cells_check check (json_typeof(cells) = 'array');
    end if;
    -- Only once: the ALTER takes an exclusive lock, and this script runs every night.
    if (select a.attstorage <> 'e' from pg_attribute as a
        where a.attrelid = 'stats.pending_cells'::regclass and a.attname = 'cells') then
        alter table stats.pending_cells alter column cells set storage external;
    end if;
end
$$;
-- Earlier versions kept pending deltas row by row in one <table>_pending table per statistics
-- table: whatever a crashed batch left there is carried over (reconcile still needs it), then the
-- old tables go.
do $$
declare
    t text;
begin
    -- The old tables are found in the catalog (stats.<table>_pending beside stats.<table>), so this
    -- list cannot drift from the statistics tables.
    for t in
        select left(c.relname, -length('_pending'))
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = 'stats' and c.relkind = 'r' and right(c.relname, length('_pending')) = '_pending'
            and to_regclass('stats.' || quote_ident(left(c.relname, -length('_pending')))) is not null
    loop
        -- No format(): this script goes through the driver, which reads percent signs as placeholders.
        execute 'insert into stats.pending_cells (warehouse_key, table_name, cells) '
            'select p.warehouse_key, ' || quote_literal(t) || ', (jsonb_agg(to_jsonb(p) - ''warehouse_key''))::json '
            'from stats.' || quote_ident(t || '_pending') || ' as p group by p.warehouse_key on conflict do nothing';
        execute 'drop table stats.' || quote_ident(t || '_pending');
    end loop;
end
$$;

-- Inputs of the monthly differentially private release (retention.release): exact, internal,
-- keyed by the month of anonymisation, each person's contribution clipped by the scrub's aggregates.
create table if not exists stats.release_feature_usage (
    anonymised_month date not null,
    feature          text not null,
    members          bigint not null check (members >= 0),
    events           bigint not null check (events >= 0),
    unique nulls not distinct (anonymised_month, feature)
);

create table if not exists stats.release_languages (
    anonymised_month date not null,
    language         text not null,
    level            text not null,
    members          bigint not null check (members >= 0),
    unique nulls not distinct (anonymised_month, language, level)
);

create table if not exists stats.release_project_applicants (
    anonymised_month date not null,
    project_id       bigint,  -- NULL pools the projects not published when the member was anonymised
    members          bigint not null check (members >= 0),
    unique nulls not distinct (anonymised_month, project_id)
);

-- The k-suppressed views over the cumulative tables changed every night (tonight's totals minus
-- yesterday's are tonight's members) and let hidden cells be derived: analysts now read the
-- monthly differentially private releases below, which never change once stored.
drop view if exists published.anonymised_cohorts;
drop view if exists published.feature_usage_monthly;
drop view if exists published.project_applications_monthly;
drop view if exists published.language_levels;
drop view if exists published.assessment_results;
drop view if exists published.experience_profiles;
-- Their threshold k went with them (differential privacy hides nobody and needs no k).
drop table if exists stats.settings;

-- One row per released month: stored once, never recomputed (a rerun returns it as stored).
create table if not exists published.releases (
    release_month  date primary key check (release_month = date_trunc('month', release_month)),
    released_at    timestamptz not null default clock_timestamp(),
    as_of          timestamptz not null,   -- the run's as-of instant that released it
    run_id         text not null,
    rho_budget     double precision not null check (rho_budget > 0),   -- policy.yaml at release time
    rho_spent      double precision not null check (rho_spent > 0),
    delta          double precision not null check (delta > 0 and delta < 1),
    epsilon        double precision not null check (epsilon > 0),      -- rho_spent stated as (epsilon, delta)
    tables         int not null,
    cells          int not null,
    library        text not null          -- the noise's source, e.g. 'opendp 0.16.0'
);

-- The privacy ledger: what each released table spent, and the noise it got.
create table if not exists published.privacy_ledger (
    release_month   date not null references published.releases (release_month),
    table_name      text not null,
    mechanism       text not null,
    sensitivity_l2  double precision not null check (sensitivity_l2 > 0),
    noise_scale     double precision not null check (noise_scale > 0),
    rho             double precision not null check (rho > 0),
    error95         bigint not null check (error95 >= 0),
    cells           int not null check (cells > 0),
    primary key (release_month, table_name)
);

-- Every released value with its 95 percent error bound, in long form (published.<table> views name the columns).
create table if not exists published.released_cells (
    release_month date not null references published.releases (release_month),
    table_name    text not null,
    key1          text not null,
    key2          text,
    value         bigint not null,
    error95       bigint not null,
    unique nulls not distinct (release_month, table_name, key1, key2)
);

-- Append-only: a stored release is never changed nor removed, not even by the pipeline.
create or replace function published.refuse_change() returns trigger language plpgsql as $$
begin
    -- No percent placeholders: this script goes through the driver (see above).
    raise exception using message = 'published releases are append-only: ' || tg_op || ' on published.'
        || tg_table_name || ' refused';
end
$$;
do $$
declare
    t text;
begin
    foreach t in array array['releases', 'privacy_ledger', 'released_cells'] loop
        if not exists (select from pg_trigger where tgname = 'append_only'
                       and tgrelid = to_regclass('published.' || t)) then
            execute 'create trigger append_only before update or delete on published.' || quote_ident(t)
                || ' for each row execute function published.refuse_change()';
            execute 'create trigger append_only_truncate before truncate on published.' || quote_ident(t)
                || ' for each statement execute function published.refuse_change()';
        end if;
    end loop;
end
$$;

-- What a person risks, month after month. Each person is anonymised once, so their data is in one
-- month's release only: their total is the largest single release (parallel composition), not
-- the sum over months (which is what it would be if the same people were in every release).
create or replace view published.privacy_accounting as
select
    release_month,
    rho_budget,
    rho_spent,
    epsilon,
    delta,
    sum(rho_spent) over (order by release_month) as rho_sum_over_months,
    max(rho_spent) over (order by release_month) as rho_per_person,
    max(epsilon) over (order by release_month) as epsilon_per_person
from published.releases;
