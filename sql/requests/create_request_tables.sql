-- Data-subject requests (issue 19): what the pipeline owns in the application database to answer a
-- person who asks. Idempotent: every run of gdpr_retention and gdpr_subject_requests executes it.
-- retention.subject_requests is the only place that links a request to its person (an account id
-- or a prospect's e-mail); receipts, logs and XCom carry the request id, never the subject.
create table if not exists retention.subject_requests (
    request_id           text primary key default gen_random_uuid()::text,
    request_type         text not null check (request_type in
        ('access', 'portability', 'erasure', 'restriction', 'lift_restriction', 'objection')),
    account_id           bigint,
    prospect_email       text,
    received_at          timestamptz not null,
    identity_verified_at timestamptz,
    -- An extension (up to two further months) counts only when its reason was recorded within the
    -- first month (retention.requests.deadlines).
    extension_reason     text,
    extended_at          timestamptz,
    state                text not null default 'received' check (state in
        ('received', 'identity_pending', 'in_progress', 'fulfilled', 'partially_fulfilled', 'refused',
         'withdrawn', 'duplicate', 'failed')),
    -- Why: what was kept and on which legal ground (partially_fulfilled), why refused and the
    -- complaint route (refused), the request it duplicates (duplicate). Never a personal value.
    state_reason         text,
    -- What was kept, as a code: legal_hold, post_mortem_directive, lcen_connection_logs.
    kept_reason          text check (kept_reason in ('legal_hold', 'post_mortem_directive', 'lcen_connection_logs')),
    kept_until           date,
    -- Rows and files removed or recorded per table (counts only): copied into the receipt.
    result_counts        jsonb not null default '{}'::jsonb,
    attempts             int not null default 0,
    last_error_class     text,
    intake_run_id        text unique,
    created_at           timestamptz not null default clock_timestamp(),
    updated_at           timestamptz not null default clock_timestamp(),
    completed_at         timestamptz,
    -- Set when the link to the person (account_id, prospect_email) was removed,
    -- request_link_retention_years after the answer (sql/requests/unlink_answered_requests.sql).
    unlinked_at          timestamptz,
    -- One subject (until unlinked), of a kind the type applies to: restriction concerns a member's account.
    constraint subject_requests_one_subject
        check (unlinked_at is not null or (account_id is null) <> (prospect_email is null)),
    check (prospect_email is null or request_type in ('access', 'portability', 'erasure', 'objection')),
    check ((extension_reason is null) = (extended_at is null)),
    check (state not in ('partially_fulfilled', 'refused', 'duplicate', 'failed') or state_reason is not null)
);
-- Databases created before unlinking existed: the column, and the one-subject rule that allows it.
alter table retention.subject_requests add column if not exists unlinked_at timestamptz;
do $$
declare
    old_check name;
begin
    for old_check in
        select c.conname from pg_constraint as c
        where c.conrelid = 'retention.subject_requests'::regclass and c.contype = 'c'
            and c.conname <> 'subject_requests_one_subject'
            and position('(account_id IS NULL) <> (prospect_email IS NULL)' in pg_get_constraintdef(c.oid)) > 0
    loop
        execute 'alter table retention.subject_requests drop constraint ' || quote_ident(old_check);
    end loop;
    if not exists (select from pg_constraint where conname = 'subject_requests_one_subject') then
        alter table retention.subject_requests add constraint subject_requests_one_subject
            check (unlinked_at is not null or (account_id is null) <> (prospect_email is null));
    end if;
end
$$;
-- Answered requests still linked to their person (the unlinking's probe).
create index if not exists subject_requests_linked_idx on retention.subject_requests (completed_at)
    where unlinked_at is null and state in ('fulfilled', 'partially_fulfilled', 'refused', 'withdrawn', 'duplicate',
                                            'failed');
-- Withdrawn by the platform or the DPO and not yet closed by a run (which writes its receipt).
create index if not exists subject_requests_withdrawn_idx on retention.subject_requests (received_at)
    where state = 'withdrawn' and completed_at is null;
create index if not exists subject_requests_open_idx on retention.subject_requests (state)
    where state in ('received', 'identity_pending', 'in_progress', 'partially_fulfilled');
create index if not exists subject_requests_account_idx on retention.subject_requests (account_id)
    where account_id is not null;

-- Accounts whose processing is restricted (GDPR art. 18): kept as they are, skipped by the
-- anonymisation and every purge that would touch them, until a lift_restriction request removes
-- the row. Ids only.
create table if not exists retention.restrictions (
    account_id    bigint primary key,
    request_id    text not null,
    restricted_at timestamptz not null
);

-- The proof: one receipt per finished request (and per state it ends in). Names no person: the
-- request id is random, the link to the person stays in retention.subject_requests.
create table if not exists retention.request_receipts (
    request_id           text not null,
    state                text not null,
    request_type         text not null,
    subject_kind         text not null check (subject_kind in ('account', 'prospect')),
    received_at          timestamptz not null,
    identity_verified_at timestamptz,
    due_on               date not null,
    extended             boolean not null,
    completed_at         timestamptz not null,
    state_reason         text,
    kept_reason          text,
    kept_until           date,
    counts               jsonb not null default '{}'::jsonb,
    run_id               text not null,
    as_of                timestamptz not null,
    recorded_at          timestamptz not null default clock_timestamp(),
    primary key (request_id, state)
);

-- An erasure on request goes through the nightly ledger (retention.account_batches), so that the
-- warehouse counts each account once whichever commits first. `source` tells the two apart;
-- `erased` counts the accounts a request batch anonymised (reason 'erasure').
alter table retention.account_batches add column if not exists source text not null default 'nightly';
alter table retention.account_batches add column if not exists erased int not null default 0;
alter table retention.account_batches add column if not exists request_id text;
do $$
begin
    if not exists (select from pg_constraint where conname = 'account_batches_source_check') then
        alter table retention.account_batches
            add constraint account_batches_source_check check (source in ('nightly', 'request'));
    end if;
end
$$;

-- Every request's due date (GDPR art. 12(3)), the rule of retention.requests.deadlines in SQL:
-- one calendar month after receipt, counted in Paris calendar days (PostgreSQL's date + interval
-- clamps to the month's end: 31 January -> 28/29 February), three months when the extension's
-- reason was recorded on or before the first due date. Receipts, deadline counts, alerts and the
-- Retention page read it, so the rule is written once; an integration test proves it equal to the
-- Python rule.
create or replace view retention.request_due_dates as
select
    q.request_id,
    cast(r.received_on + case when r.valid_extension then interval '3 months' else interval '1 month' end as date)
        as due_on,
    r.valid_extension as extended
from retention.subject_requests as q
cross join lateral (
    select
        (q.received_at at time zone 'Europe/Paris')::date as received_on,
        coalesce(btrim(q.extension_reason), '') <> ''
            and (q.extended_at at time zone 'Europe/Paris')::date
                <= cast((q.received_at at time zone 'Europe/Paris')::date + interval '1 month' as date)
            as valid_extension
) as r;

-- Deadline alerts sent (same notifier as the runs' alerts): once per request when it comes within
-- 7 days of its due date, once per Paris day while it is overdue. Request ids only.
create table if not exists retention.request_alerts (
    request_id text not null,
    level      text not null check (level in ('due_soon', 'overdue')),
    alerted_on date not null,
    run_id     text not null,
    primary key (request_id, level, alerted_on)
);

-- What produced each receipt: the code's and the reviewed files' digests (retention.provenance)
-- and the quality gates this run passed before acting (gate.check names).
alter table retention.request_receipts add column if not exists code_version text;
alter table retention.request_receipts add column if not exists policy_version text;
alter table retention.request_receipts add column if not exists gates_passed jsonb not null default '[]'::jsonb;

-- Connection logs of a restricted account that reached the end of their legal year (GDPR art. 18;
-- recital 67: "temporarily moving the selected data to another processing system"): set aside
-- here, as they were (the whole row as JSON), before the nightly purge deletes them from the
-- platform's table; deleted by the first purge after the restriction is lifted. Personal data:
-- mapped in the data map.
create table if not exists retention.restricted_connection_logs (
    log_id       bigint primary key,
    account_id   bigint not null,
    occurred_at  timestamptz not null,
    log_row      jsonb not null,
    set_aside_at timestamptz not null
);
create index if not exists restricted_connection_logs_account_idx
    on retention.restricted_connection_logs (account_id);

-- Access and portability packages (retention.requests.package): the encrypted package's location
-- (named by the random request id only), digest and size, the day after which it is deleted
-- (policy request_package_retention_days) and when it was. The receipt proves what was sent.
alter table retention.subject_requests add column if not exists package_uri text;
alter table retention.subject_requests add column if not exists package_sha256 text;
alter table retention.subject_requests add column if not exists package_bytes bigint;
alter table retention.subject_requests add column if not exists package_expires_on date;
alter table retention.subject_requests add column if not exists package_deleted_at timestamptz;
create index if not exists subject_requests_package_expiry_idx on retention.subject_requests (package_expires_on)
    where package_uri is not null and package_deleted_at is null;
alter table retention.request_receipts add column if not exists package_sha256 text;
alter table retention.request_receipts add column if not exists package_bytes bigint;

-- Accounts that requests hold as they are, whatever their retention clocks: restricted (GDPR art.
-- 18), or with an access or portability request still open (its package must be complete; the
-- wait ends at the request's due date, when an unproven one is refused). The one definition the
-- nightly eligibility, the request erasures and the before-gate read.
create or replace view retention.accounts_held_by_requests as
select r.account_id, 'restriction' as held_for
from retention.restrictions as r
union all
select q.account_id, 'open ' || q.request_type || ' request'
from retention.subject_requests as q
where q.account_id is not null
    and q.request_type in ('access', 'portability')
    and q.state in ('received', 'identity_pending', 'in_progress');
