-- Annotation experience of the batch's members: whether they had any, and how many experiences.
-- A part of scrub_batch.sql: reads the rows the scrub deletes (experiences_gone).
with member as (
    select
        b.reason,
        coalesce(bool_or(x.is_annotation), false) as annotation,
        count(x.account_id) as experiences
    from batch_members as b
    left join experiences_gone as x on x.account_id = b.id
    group by b.id, b.reason
)
select
    date_trunc('month', cast(:as_of as timestamptz) at time zone 'UTC')::date as anonymised_month,
    reason,
    case when annotation then 'yes' else 'no' end as annotation_experience,
    case when experiences = 0 then '0' when experiences = 1 then '1' when experiences <= 3 then '2-3' else '4+' end
        as experience_band,
    count(*) as members
from member
group by 1, 2, 3, 4
