-- What the pipeline owns in the application database: its ledger, its audit and its reference data.
-- Idempotent: every run executes it first. Never any personal value, never a list of account ids
-- that outlives the batch it belongs to.
-- Created by the administrator in a least-privilege setup (CREATE SCHEMA IF NOT EXISTS would
-- still demand CREATE on the database), so only create it when it is really missing.
do $$
begin
    if not exists (select from pg_namespace where nspname = 'retention') then
        create schema retention;
    end if;
end
$$;

create table if not exists retention.runs (
    run_id       text primary key,
    as_of        timestamptz not null,
    dry_run      boolean not null,
    policy       jsonb not null,
    started_at   timestamptz not null default clock_timestamp(),
    finished_at  timestamptz,
    status       text not null default 'running' check (status in ('running', 'success', 'failed')),
    report       jsonb
);
create index if not exists runs_as_of_idx on retention.runs (as_of);
-- The Retention page's "last runs" (newest started first) without sorting the whole history.
create index if not exists runs_started_at_idx on retention.runs (started_at, run_id) where not dry_run;

-- The accounts ledger: one row per planned batch. The id range exists only while the batch is in
-- flight; the row that marks the batch done is written in the same transaction as the scrub.
create table if not exists retention.account_batches (
    plan_id          text not null,
    batch_no         int not null,
    run_id           text not null,
    as_of            timestamptz not null,
    warehouse_key    text not null unique,
    id_from          bigint,
    id_to            bigint,
    planned_accounts int not null,
    status           text not null default 'planned' check (status in ('planned', 'done')),
    -- Per reason: the accounts planned while status = 'planned' (the before-gate's ceiling reads
    -- them), the accounts anonymised once 'done'.
    deceased         int not null default 0,
    closed           int not null default 0,
    inactive         int not null default 0,
    rows_deleted     jsonb,
    files_deleted    int not null default 0,
    file_errors      int not null default 0,
    duration_s       double precision,
    completed_at     timestamptz,
    audited_run_id   text,
    primary key (plan_id, batch_no),
    check (status = 'planned' or (id_from is null and id_to is null))
);
create index if not exists account_batches_unaudited_idx on retention.account_batches (status)
    where audited_run_id is null;

-- The accounts each planned batch may anonymise, frozen by the plan: a batch locks exactly these
-- (by primary key) and re-checks them under the locks. Ids only, never leaving this database;
-- a batch's rows go once it is done and verified, the rest with the next plan.
create table if not exists retention.batch_accounts (
    plan_id    text not null,
    batch_no   int not null,
    account_id bigint not null,
    reason     text not null,
    primary key (plan_id, batch_no, account_id)
);

-- One audit row per run and rule: counts and cutoffs, never identities.
create table if not exists retention.rule_audit (
    run_id             text not null,
    rule               text not null,
    as_of              timestamptz not null,
    cutoff             timestamptz,
    dry_run            boolean not null,
    rows_affected      bigint not null default 0,
    partitions_dropped int not null default 0,
    details            jsonb not null default '{}'::jsonb,
    duration_s         double precision not null default 0,
    recorded_at        timestamptz not null default clock_timestamp(),
    primary key (run_id, rule)
);

-- Reference data used to turn personal attributes into coarse, non-identifying categories.
create table if not exists retention.department_regions (
    department text primary key,
    region     text not null
);
create table if not exists retention.known_features (
    feature text primary key
);
create table if not exists retention.education_levels (
    level text primary key,
    rank  int not null
);

-- Documents of anonymised accounts whose stored file could not be deleted yet (ids of documents,
-- not of people): the row stays until the store accepts the deletion.
create table if not exists retention.pending_file_deletions (
    document_id     bigint primary key,
    first_failed_at timestamptz not null
);

-- Data-quality gate results per run: expectation, verdict and observed counts, never values.
create table if not exists retention.quality_results (
    run_id      text not null,
    gate        text not null,
    check_name  text not null,
    success     boolean not null,
    observed    numeric,
    expected    numeric,
    description text not null,
    data_docs   text,
    recorded_at timestamptz not null default clock_timestamp(),
    primary key (run_id, gate, check_name)
);

-- Members to warn before anonymisation for inactivity, for the platform's mailer. A row lives only
-- until the planned anonymisation: every run rebuilds the list, so an account that became active
-- again, closed, or was anonymised leaves it.
create table if not exists retention.inactivity_notices (
    account_id       bigint primary key,
    notice_due_on    date not null,
    anonymise_on     date not null,
    listed_at        timestamptz not null default clock_timestamp()
);

-- Alerts the pipeline sent (failed run, failed gate, missed deadline): event, run and channel, never
-- a recipient or a message. Written after the channel accepted the alert; the year of proof counts them.
create table if not exists retention.alerts_sent (
    id       bigint generated always as identity primary key,
    event    text not null,
    run_id   text,
    channel  text not null,
    sent_at  timestamptz not null default clock_timestamp()
);
create index if not exists alerts_sent_sent_at_idx on retention.alerts_sent (sent_at);
