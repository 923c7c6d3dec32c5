-- Prospects' erasure and objection requests in progress, at once: every prospect row with the
-- request's e-mail (case-insensitive) is deleted, not anonymised (a B2B prospect has no account to
-- keep). A request that matches no row is fulfilled with 0 rows (nothing was held).
with requested as (
    select q.request_id, lower(btrim(q.prospect_email)) as email
    from retention.subject_requests as q
    where q.state = 'in_progress' and q.request_type in ('erasure', 'objection') and q.prospect_email is not null
),
deleted as (
    delete from app.prospects as p
    using requested as r
    where lower(btrim(p.email)) = r.email
    returning lower(btrim(p.email)) as email
),
done as (
    update retention.subject_requests as q
    set state = 'fulfilled',
        result_counts = jsonb_build_object(
            'prospects', (select count(*) from deleted as d where d.email = r.email)),
        completed_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    from requested as r
    where q.request_id = r.request_id
    returning 1
)
select (select count(*) from done) as requests, (select count(*) from deleted) as prospects_deleted
