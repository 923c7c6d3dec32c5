-- Any text in the warehouse that looks like an email, a phone number, an IP address or a URL.
with texts (value) as (
    select reason from stats.anonymised_cohorts
    union all select age_band from stats.anonymised_cohorts
    union all select region from stats.anonymised_cohorts
    union all select education_level from stats.anonymised_cohorts
    union all select feature from stats.feature_usage_monthly
    union all select language from stats.language_levels
    union all select level from stats.language_levels
    union all select assessment_code from stats.assessment_results
    union all select score_band from stats.assessment_results
    union all select reason from stats.experience_profiles
    union all select annotation_experience from stats.experience_profiles
    union all select experience_band from stats.experience_profiles
    union all select feature from stats.release_feature_usage
    union all select language from stats.release_languages
    union all select level from stats.release_languages
    -- Project ids (digits: a long one would look like a phone number) are ids of public projects.
    union all select key1 from published.released_cells where table_name <> 'applicants_by_project'
    union all select key2 from published.released_cells where key2 is not null
)
select 1
from texts
where value ~* '[^@[:space:]]+@[^@[:space:]]+\.[a-z]{2,}'
    or value ~ '\+?[0-9][0-9 ().-]{7,}[0-9]'
    or value ~ '(^|[^0-9])[0-9]{1,3}(\.[0-9]{1,3}){3}([^0-9]|$)'
    or value ~* '([0-9a-f]{1,4}:){2,}[0-9a-f]{0,4}'
    or value ~* '(https?://|www\.|[a-z0-9-]+\.(com|fr|org|net|io)(/|$))'
