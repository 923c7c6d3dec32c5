-- Backlog: accounts eligible for anonymisation right now (cutoffs computed from the wall clock) and
-- not anonymised yet, per reason. The subquery is sql/accounts/select_eligible_accounts.sql, spliced
-- in exactly as the pipeline counts its candidates: the page and the nightly run cannot disagree.
select e.reason, count(*) as accounts
from ({eligible}) as e
group by e.reason
