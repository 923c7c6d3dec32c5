-- Analysts read the k-suppressed views and nothing else.
grant usage on schema published to analyst;
grant select on all tables in schema published to analyst;
revoke all on schema stats from analyst;
