-- Languages spoken by former members (ISO 639-1 code; 'other' outside the released list) over every
-- released month, all levels together, and how many speak it natively. A member counts once per
-- language, in at most three languages: members add up per language, not across languages.
-- Summing n cells adds n independent noises: the bound of a sum is error95 x sqrt(n).
select
    language,
    sum(members) as members,
    round(max(members_error95) * sqrt(count(*))) as members_error95,
    sum(members) filter (where level = 'native') as native
from published.members_by_language_level
group by language
order by members desc;
