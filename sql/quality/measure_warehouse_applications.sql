select (select coalesce(sum(applications), 0) from stats.project_applications_monthly) as observed,
       :applications as expected
