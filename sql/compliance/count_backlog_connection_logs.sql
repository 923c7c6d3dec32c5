-- Backlog: connection logs past their retention right now (index on occurred_at).
select count(*) as expired
from app.connection_logs
where occurred_at < :logs_before
