-- The analysts' monthly releases recorded in the nightly runs' reports since :since (as_of on the
-- runs' index): month, privacy spent, size. Figures only; a month released once appears once.
select distinct on (release ->> 'month')
    (release ->> 'month')::date as month,
    (release ->> 'rho')::double precision as rho,
    (release ->> 'epsilon')::double precision as epsilon,
    (release ->> 'delta')::double precision as delta,
    (release ->> 'tables')::int as tables,
    (release ->> 'cells')::int as cells,
    r.run_id
from retention.runs as r
cross join lateral jsonb_array_elements(
    case when jsonb_typeof(r.report -> 'stages' -> 'releases' -> 'released') = 'array'
         then r.report -> 'stages' -> 'releases' -> 'released' else '[]'::jsonb end
) as release
where r.as_of >= :since
    and release ? 'rho'
order by release ->> 'month', r.started_at
