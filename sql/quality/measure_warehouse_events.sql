select (select coalesce(sum(events), 0) from stats.feature_usage_monthly) as observed, :events as expected
