-- Variant of the reference schema for platforms that never partitioned their logs:
-- one heap, a primary key and the occurred_at index the purge is driven by.
drop table app.connection_logs;
create table app.connection_logs (
    id          bigint generated always as identity primary key,
    account_id  bigint,
    ip          inet,
    occurred_at timestamptz not null,
    path        text,
    user_agent  text
);
create index connection_logs_occurred_at_idx on app.connection_logs (occurred_at);
create index connection_logs_account_idx on app.connection_logs (account_id);
