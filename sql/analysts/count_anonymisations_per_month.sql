-- How many accounts were anonymised each released month, and why (closed, inactive, deceased)?
-- Each value carries noise: the true count lies within +/- error95 of it 95 times in 100. The month's
-- total adds three independent noises: its bound is error95 x sqrt(3).
select
    release_month,
    sum(members) filter (where reason = 'closed') as closed,
    sum(members) filter (where reason = 'inactive') as inactive,
    sum(members) filter (where reason = 'deceased') as deceased,
    sum(members) as total,
    max(members_error95) as error95_per_reason,
    round(max(members_error95) * sqrt(count(*))) as error95_total
from published.members_by_reason
group by release_month
order by release_month;
