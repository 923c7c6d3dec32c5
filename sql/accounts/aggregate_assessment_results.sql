-- Assessment results of the batch by month, assessment and ten-point score band.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (assessments_gone).
with result as (
    select
        s.account_id,
        -- A month Python cannot hold (BC, infinity, after 9999) is an unknown (NULL) month.
        case
            when s.completed_at >= timestamptz '0001-01-01 00:00:00+00' and s.completed_at < timestamptz '10000-01-01 00:00:00+00'
                then date_trunc('month', s.completed_at at time zone 'UTC')::date
        end as month,
        case
            when upper(btrim(s.assessment_code)) ~ '^[A-Z]{2,12}(-[A-Z0-9]{1,12}){0,3}$'
                then upper(btrim(s.assessment_code))
            else 'other'
        end as assessment_code,
        case when s.score between 0 and 100 then s.score end as score
    from assessments_gone as s
)
select
    month,
    assessment_code,
    case
        when score is null then 'unknown'
        when score >= 90 then '90-100'
        else (floor(score / 10) * 10)::int::text || '-' || (floor(score / 10) * 10 + 9)::int::text
    end as score_band,
    count(*) as results,
    count(distinct account_id) as members,
    coalesce(sum(score), 0) as score_sum,
    count(score) as score_count
from result
group by 1, 2, 3
