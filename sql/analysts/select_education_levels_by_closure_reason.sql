-- Highest education level of former members, by the reason their account was anonymised (closed by
-- the member, inactive for five years, deceased), over every released month, with each reason's
-- share. Summing n cells adds n independent noises: the bound of a sum is error95 x sqrt(n).
select
    reason,
    education_level,
    sum(members) as members,
    round(max(members_error95) * sqrt(count(*))) as members_error95,
    round(100.0 * sum(members) / nullif(sum(sum(members)) over (partition by reason), 0), 1) as pct_of_reason
from published.members_by_reason_education_level
group by reason, education_level
order by reason, members desc;
