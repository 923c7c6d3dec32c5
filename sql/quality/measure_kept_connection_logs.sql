-- Rows at or after the cutoff before the purge (bound) against now: the purge may only remove.
select :kept_before as observed, (select count(*) from app.connection_logs where occurred_at >= :logs_before) as expected
