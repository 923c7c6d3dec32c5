-- Requests whose identity was still not proven when their due date passed (Paris calendar day of
-- :as_of after request_due_dates.due_on) are refused (GDPR art. 12(2) and 12(6): the controller
-- may refuse when it cannot identify the person), with the reason, the way to ask again and the
-- complaint route to the CNIL. Nothing was done for them; once refused they are answered, so
-- their link to the person is removed after request_link_retention_years like any other.
-- Runs after update_request_states.sql, so a proof recorded in time has already moved the request
-- to in_progress. Returns the number refused.
with refused as (
    update retention.subject_requests as q
    set state = 'refused',
        state_reason = 'The identity of the person making this request could not be verified by its due date '
            || '(GDPR art. 12(2) and 12(6)); nothing was done. A new request with proof of identity may be made at '
            || 'any time. You may lodge a complaint with the CNIL (www.cnil.fr/plaintes, 3 place de Fontenoy, '
            || 'TSA 80715, 75334 Paris Cedex 07).',
        result_counts = '{}'::jsonb,
        completed_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    from retention.request_due_dates as d
    where d.request_id = q.request_id
        and q.state = 'identity_pending'
        and (q.identity_verified_at is null or q.identity_verified_at > :as_of)
        and d.due_on < (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date
    returning 1
)
select count(*) as unproven_refused from refused
