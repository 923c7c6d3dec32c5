-- Accounts whose processing is restricted at the person's request (GDPR art. 18) right now: kept as
-- they are, skipped by the anonymisation and the purges. A count, never an account.
select count(*) as restricted from retention.restrictions
