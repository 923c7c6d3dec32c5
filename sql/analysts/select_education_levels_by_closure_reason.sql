-- Highest education level of former members, by the reason their account was anonymised
-- (closed by the member, inactive for five years, deceased).
-- Each former member is in exactly one cell, so members add up; but cells of fewer than 5 are
-- hidden, so the totals undercount, and most for rare combinations.
select
    reason,
    education_level,
    sum(members) as members,
    round(100.0 * sum(members) / sum(sum(members)) over (partition by reason), 1) as pct_within_reason
from published.anonymised_cohorts
group by reason, education_level
order by reason, members desc, education_level;
