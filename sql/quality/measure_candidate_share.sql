-- Candidates for one reason against the ceiling (a share of the live accounts, from the policy).
select
    (select count(*) from ({eligible}) as e where e.reason = :reason) as observed,
    greatest(floor(:max_share * (select count(*) from app.accounts where anonymised_at is null)), :ceiling_floor)
        as expected
