-- Restriction and lift_restriction requests in progress, at once: the account rows are locked
-- first (FOR UPDATE), so a nightly batch holding one finishes before, and one starting after
-- re-checks its eligibility and sees the restriction. A restriction of an account already
-- anonymised has nothing left to restrict: fulfilled, 0 accounts restricted.
with requested as (
    select q.request_id, q.request_type, q.account_id
    from retention.subject_requests as q
    where q.state = 'in_progress' and q.request_type in ('restriction', 'lift_restriction')
),
locked as (
    select a.id
    from app.accounts as a
    where a.id = any(array(select account_id from requested)) and a.anonymised_at is null
    order by a.id
    for update of a
),
restricted as (
    insert into retention.restrictions (account_id, request_id, restricted_at)
    select distinct on (r.account_id) r.account_id, r.request_id, cast(:as_of as timestamptz)
    from requested as r
    join locked as l on l.id = r.account_id
    where r.request_type = 'restriction'
    on conflict (account_id) do nothing
    returning account_id
),
lifted as (
    delete from retention.restrictions as x
    using requested as r
    where r.request_type = 'lift_restriction' and x.account_id = r.account_id
    returning x.account_id
),
done as (
    update retention.subject_requests as q
    set state = 'fulfilled',
        result_counts = jsonb_build_object(
            case when r.request_type = 'restriction' then 'accounts_restricted' else 'restrictions_lifted' end,
            case when r.request_type = 'restriction'
                then (select count(*) from locked as l where l.id = r.account_id)
                else (select count(*) from lifted as x where x.account_id = r.account_id) end),
        completed_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    from requested as r
    where q.request_id = r.request_id
    returning q.request_type
)
select
    (select count(*) from done where request_type = 'restriction') as restrictions,
    (select count(*) from done where request_type = 'lift_restriction') as lifts,
    (select count(*) from restricted) as accounts_restricted,
    (select count(*) from lifted) as restrictions_lifted
