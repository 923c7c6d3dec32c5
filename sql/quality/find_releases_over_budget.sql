-- Releases that spent more than their budget (their ledger's sum, or the figure they state), and
-- releases made at this as-of instant under another budget than the policy's.
select r.release_month
from published.releases as r
left join (
    select release_month, sum(rho) as rho from published.privacy_ledger group by release_month
) as l using (release_month)
where l.rho is null
    or l.rho > r.rho_budget * (1 + 1e-9)
    or r.rho_spent > r.rho_budget * (1 + 1e-9)
    or abs(l.rho - r.rho_spent) > 1e-9 * r.rho_budget
    or (r.as_of = :as_of and r.rho_budget <> cast(:rho_per_month as double precision))
