-- Languages spoken by the batch's members, ISO 639-1 code and CEFR level (or native).
-- A part of scrub_batch.sql: reads the rows the scrub deletes (languages_gone).
select
    date_trunc('month', cast(:as_of as timestamptz) at time zone 'UTC')::date as anonymised_month,
    case when lower(btrim(l.language)) ~ '^[a-z]{2}$' then lower(btrim(l.language)) else 'unknown' end as language,
    case
        when upper(btrim(l.level)) in ('A1', 'A2', 'B1', 'B2', 'C1', 'C2') then upper(btrim(l.level))
        when lower(btrim(l.level)) in ('native', 'natif', 'langue maternelle') then 'native'
        else 'unknown'
    end as level,
    count(distinct l.account_id) as members
from languages_gone as l
group by 1, 2, 3
