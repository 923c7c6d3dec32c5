-- Reference DDL of the application's schema `app`.
-- The pipeline does not own this schema: the platform does. The demo, the tests and the
-- benchmark create it from this file; in production it already exists.
-- :partitioned_logs is handled by retention.appschema (monthly partitions are created there),
-- so this file declares connection_logs as a partitioned table with a DEFAULT partition only.

create schema if not exists app;

create table app.accounts (
    id                       bigint generated always as identity primary key,
    email                    text,
    first_name               text,
    last_name                text,
    phone                    text,
    address_line             text,
    postal_code              text,
    city                     text,
    country_code             char(2),
    birth_date               date,
    nationality              char(2),
    linkedin_url             text,
    work_authorisation       boolean,
    availability             text,
    created_at               timestamptz not null,
    last_login_at            timestamptz,
    closed_at                timestamptz,
    deceased_reported_at     timestamptz,
    post_mortem_retain_until date,
    legal_hold_until         date,
    anonymised_at            timestamptz
);
create unique index accounts_email_key on app.accounts (email) where email is not null;
-- Partial indexes over live accounts keep the nightly candidate query off a full scan.
create index accounts_closed_at_live_idx on app.accounts (closed_at)
    where anonymised_at is null and closed_at is not null;
create index accounts_deceased_live_idx on app.accounts (deceased_reported_at)
    where anonymised_at is null and deceased_reported_at is not null;
create index accounts_last_seen_live_idx on app.accounts (greatest(created_at, last_login_at))
    where anonymised_at is null;

create table app.education (
    id              bigint generated always as identity primary key,
    account_id      bigint not null references app.accounts (id),
    school          text,
    specialty       text,
    level           text,
    diploma         text,
    graduation_year int
);
create index education_account_idx on app.education (account_id);

create table app.experiences (
    id            bigint generated always as identity primary key,
    account_id    bigint not null references app.accounts (id),
    title         text,
    company       text,
    is_annotation boolean,
    started_on    date,
    ended_on      date,
    description   text
);
create index experiences_account_idx on app.experiences (account_id);

create table app.languages (
    account_id bigint not null references app.accounts (id),
    language   text not null,
    level      text,
    primary key (account_id, language)
);

create table app.documents (
    id          bigint generated always as identity primary key,
    account_id  bigint not null references app.accounts (id),
    kind        text,
    storage_uri text,
    uploaded_at timestamptz
);
create index documents_account_idx on app.documents (account_id);

create table app.projects (
    id           bigint generated always as identity primary key,
    client_name  text,
    title        text,
    published_at timestamptz,
    closed_at    timestamptz
);

create table app.applications (
    id             bigint generated always as identity primary key,
    account_id     bigint not null references app.accounts (id),
    project_id     bigint not null references app.projects (id),
    applied_at     timestamptz,
    matching_score numeric(5, 2),
    status         text
);
create index applications_account_idx on app.applications (account_id, applied_at);
create index applications_project_idx on app.applications (project_id);

create table app.assessments (
    id              bigint generated always as identity primary key,
    account_id      bigint not null references app.accounts (id),
    assessment_code text,
    score           numeric(5, 2),
    completed_at    timestamptz
);
create index assessments_account_idx on app.assessments (account_id, completed_at);

create table app.messages (
    id           bigint generated always as identity primary key,
    sender_id    bigint references app.accounts (id),
    recipient_id bigint references app.accounts (id),
    body         text,
    sent_at      timestamptz
);
create index messages_sender_idx on app.messages (sender_id, sent_at);
create index messages_recipient_idx on app.messages (recipient_id);

create table app.activity_events (
    id          bigint generated always as identity primary key,
    account_id  bigint not null references app.accounts (id),
    feature     text,
    occurred_at timestamptz
);
create index activity_events_account_idx on app.activity_events (account_id, occurred_at);

-- Connection logs: no foreign key (visitors and closed accounts log too), monthly range
-- partitions created by the platform ahead of time, a DEFAULT partition so any timestamp lands.
create table app.connection_logs (
    id          bigint generated always as identity,
    account_id  bigint,
    ip          inet,
    occurred_at timestamptz not null,
    path        text,
    user_agent  text
) partition by range (occurred_at);
create table app.connection_logs_default partition of app.connection_logs default;
create index connection_logs_occurred_at_idx on app.connection_logs (occurred_at);
create index connection_logs_account_idx on app.connection_logs (account_id);

create table app.prospects (
    id              bigint generated always as identity primary key,
    civility        text,
    first_name      text,
    last_name       text,
    email           text,
    phone           text,
    social_url      text,
    company         text,
    job_title       text,
    source          text,
    collected_at    timestamptz not null,
    last_contact_at timestamptz,
    objected_at     timestamptz
);
create index prospects_objected_idx on app.prospects (objected_at) where objected_at is not null;
create index prospects_last_touch_idx on app.prospects (greatest(collected_at, last_contact_at));
-- A prospect's request (erasure, objection, access) names an e-mail: found by index, not by a scan.
create index prospects_email_idx on app.prospects (lower(btrim(email)));
