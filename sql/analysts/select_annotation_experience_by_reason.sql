-- Did former members have annotation experience? By the reason their account was anonymised, per
-- released month, with the share of the reason's members (each member is in exactly one cell).
select
    release_month,
    reason,
    annotation_experience,
    members,
    members_error95,
    round(100.0 * members / nullif(sum(members) over (partition by release_month, reason), 0), 1) as pct_of_reason
from published.members_by_reason_annotation_experience
order by release_month, reason, annotation_experience;
