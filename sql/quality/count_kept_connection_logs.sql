select count(*) from app.connection_logs where occurred_at >= :logs_before
