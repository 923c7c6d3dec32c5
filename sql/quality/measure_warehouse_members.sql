select (select coalesce(sum(members), 0) from stats.anonymised_cohorts) as observed, :members as expected
