-- Did former members have annotation experience, and how many professional experiences did they list
-- (0, 1, 2-3, 4+)? By the reason their account was anonymised. Each former member is in exactly one
-- cell; hidden cells (fewer than 5 members) make the totals undercount.
select
    reason,
    annotation_experience,
    experience_band,
    sum(members) as members,
    round(100.0 * sum(members) / sum(sum(members)) over (partition by reason), 1) as pct_within_reason
from published.experience_profiles
group by reason, annotation_experience, experience_band
order by reason, annotation_experience desc, experience_band;
