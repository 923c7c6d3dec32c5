-- One cell per (month, reason, age band, region, highest education level) for the batch.
-- Every attribute is coarsened through a reviewed vocabulary; anything else becomes 'unknown'.
-- A part of scrub_batch.sql: reads the accounts as they were (members_before) and the education
-- rows the scrub deletes (education_gone).
with education as (
    select
        ed.account_id,
        count(*) as rows_seen,
        max(el.rank) as best_rank,
        (array_agg(el.level order by el.rank desc nulls last))[1] as best_level
    from education_gone as ed
    left join retention.education_levels as el on el.level = lower(btrim(ed.level))
    group by ed.account_id
),
member as (
    select
        m.reason,
        -- age() fails on dates a timestamp cannot hold (+-infinity, > 294276 AD): outside 0-120 years
        -- the band is 'unknown' anyway, so only those dates are aged.
        case
            when m.birth_date between cast(:as_of_date as date) - interval '120 years' and cast(:as_of_date as date)
                then date_part('year', age(cast(:as_of_date as date), m.birth_date))::int
        end as age_years,
        case
            when m.country_code is not null and upper(m.country_code) <> 'FR' then 'abroad'
            when btrim(m.postal_code) ~ '^[0-9]{5}$' then coalesce(dr.region, 'unknown')
            else 'unknown'
        end as region,
        case
            when edu.best_rank is not null then edu.best_level
            when edu.rows_seen > 0 then 'other'
            else 'none'
        end as education_level
    from members_before as m
    left join retention.department_regions as dr
        on dr.department = case
            when left(btrim(m.postal_code), 2) = '97' then left(btrim(m.postal_code), 3)
            else left(btrim(m.postal_code), 2)
        end
    left join education as edu on edu.account_id = m.id
)
select
    date_trunc('month', cast(:as_of as timestamptz) at time zone 'UTC')::date as anonymised_month,
    reason,
    case
        when age_years is null or age_years not between 15 and 99 then 'unknown'
        else (age_years / 5 * 5)::text || '-' || (age_years / 5 * 5 + 4)::text
    end as age_band,
    region,
    education_level,
    count(*) as members
from member
group by 1, 2, 3, 4, 5
