-- Published cells with fewer than k people: the views must hide every one of them.
with k as (select min_cell_size as k from stats.settings)
select 'anonymised_cohorts' from published.anonymised_cohorts, k where members < k.k
union all select 'feature_usage_monthly' from published.feature_usage_monthly, k where members < k.k
union all select 'project_applications_monthly' from published.project_applications_monthly, k where applicants < k.k
union all select 'language_levels' from published.language_levels, k where members < k.k
union all select 'assessment_results' from published.assessment_results, k where members < k.k
union all select 'experience_profiles' from published.experience_profiles, k where members < k.k
