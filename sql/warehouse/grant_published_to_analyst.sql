-- Analysts read the monthly releases (tables and views of `published`) and nothing else: the exact
-- statistics in `stats` stay out of their reach.
grant usage on schema published to analyst;
grant select on all tables in schema published to analyst;
revoke all on schema stats from analyst;
revoke all on all tables in schema stats from analyst;
