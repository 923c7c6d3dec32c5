-- Input of the monthly differentially private release (retention.release): members per language
-- and level. A language outside the released list (:release_languages) is 'other'; a member's
-- language is counted once, at the best level they gave; a member counts in at most
-- :release_languages_per_member cells (best levels first), so that one person moves at most that
-- many cells by one. Keyed by the month of anonymisation: each person enters one month's release.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (languages_gone).
with spoken as (
    select
        l.account_id,
        case
            when lower(btrim(l.language)) = any(cast(:release_languages as text[])) then lower(btrim(l.language))
            else 'other'
        end as language,
        case
            when upper(btrim(l.level)) in ('A1', 'A2', 'B1', 'B2', 'C1', 'C2') then upper(btrim(l.level))
            when lower(btrim(l.level)) in ('native', 'natif', 'langue maternelle') then 'native'
            else 'unknown'
        end as level
    from languages_gone as l
),
best as (
    select distinct on (account_id, language)
        account_id, language, level,
        array_position(array['unknown', 'A1', 'A2', 'B1', 'B2', 'C1', 'C2', 'native'], level) as level_rank
    from spoken
    order by account_id, language,
        array_position(array['unknown', 'A1', 'A2', 'B1', 'B2', 'C1', 'C2', 'native'], level) desc
),
clipped as (
    select language, level,
        row_number() over (partition by account_id order by level_rank desc, language) as nth
    from best
)
select
    date_trunc('month', cast(:as_of as timestamptz) at time zone 'UTC')::date as anonymised_month,
    language,
    level,
    count(*) as members
from clipped
where nth <= :release_languages_per_member
group by 1, 2, 3
