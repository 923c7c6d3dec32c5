-- Pending inactivity notices (retention.inactivity_notices, rebuilt by every run for the platform's
-- mailer): how many are due to be sent by :on (the day the page measures at), in the next 7 and 30
-- days, in all, and the first planned anonymisation. Counts and dates only, never an account.
-- A full read, on purpose: the table holds only the members inside the notice period (every run
-- rebuilds it), so it is as small as the answer and an index would not spare a page.
select
    count(*) filter (where notice_due_on <= cast(:on as date)) as due,
    count(*) filter (where notice_due_on > cast(:on as date)
                       and notice_due_on <= cast(:on as date) + 7) as next_7_days,
    count(*) filter (where notice_due_on > cast(:on as date) + 7
                       and notice_due_on <= cast(:on as date) + 30) as next_30_days,
    count(*) as listed,
    min(anonymise_on) as first_anonymisation_on,
    max(listed_at) as listed_at
from retention.inactivity_notices
