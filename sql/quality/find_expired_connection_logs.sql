select 1 from app.connection_logs where occurred_at < :logs_before limit 1
