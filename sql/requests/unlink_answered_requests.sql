-- Removes the link between an answered request and its person (account id, prospect's e-mail)
-- :link_retention_years after the answer (policy request_link_retention_years, with its legal
-- basis): the request, its dates, state and reason stay, naming no one, as its receipt does.
-- Still linked: open requests, an erasure waiting for a hold or directive to end (it is answered
-- again then), and the restriction in force (retention.restrictions keeps its account id until it
-- is lifted). Returns the number unlinked.
with unlinked as (
    update retention.subject_requests as q
    set account_id = null,
        prospect_email = null,
        unlinked_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    where q.unlinked_at is null
        and q.state in ('fulfilled', 'partially_fulfilled', 'refused', 'withdrawn', 'duplicate', 'failed')
        and q.completed_at < cast(:as_of as timestamptz) - make_interval(years => cast(:link_retention_years as int))
        and not (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive'))
        and not exists (select 1 from retention.restrictions as x where x.request_id = q.request_id)
    returning 1
)
select count(*) as unlinked from unlinked
