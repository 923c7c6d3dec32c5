-- Languages spoken by former members (ISO 639-1 code) and their level (CEFR A1-C2, native, unknown).
-- A member speaking three languages counts once in each: members add up per language, not across
-- languages. Cells of fewer than 5 members are hidden.
select language, level, sum(members) as members
from published.language_levels
group by language, level
order by language, level;
