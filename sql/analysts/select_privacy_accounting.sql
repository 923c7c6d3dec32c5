-- What each release cost in privacy, and what a person risks in total. rho (zero-concentrated
-- differential privacy) and epsilon at delta say how much any one person's data can change what is
-- published; each person is in one month's release only, so their total is the largest release's
-- (rho_per_person), not the sum over months (rho_sum_over_months).
select release_month, rho_budget, rho_spent, round(epsilon::numeric, 2) as epsilon, delta,
       rho_per_person, round(epsilon_per_person::numeric, 2) as epsilon_per_person, rho_sum_over_months
from published.privacy_accounting
order by release_month;
