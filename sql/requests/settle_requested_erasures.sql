-- The outcome of every account erasure request still open, once its batch ran (or could not):
--   anonymised (by its batch, or before it: by the nightly run or an earlier request): fulfilled, or
--     partially_fulfilled when
--     connection logs younger than their retention remain (LCEN: kept one year, then purged);
--   a legal hold or a post-mortem directive in force: partially_fulfilled, kept until its date
--     (planned again once it has passed);
--   restricted: refused, with the reason and the complaint route;
--   no such account: fulfilled, nothing held;
--   otherwise (the application held the row): left in progress, retried by the next run.
-- Counts per table come from the request's done batch in the ledger (never a value).
with requested as (
    select
        q.request_id,
        q.account_id,
        a.id is not null as account_exists,
        a.anonymised_at,
        a.legal_hold_until,
        a.post_mortem_retain_until,
        exists (select 1 from retention.restrictions as x where x.account_id = q.account_id) as restricted,
        b.rows_deleted,
        b.files_deleted,
        b.request_id is not null as by_request
    from retention.subject_requests as q
    left join app.accounts as a on a.id = q.account_id
    left join retention.account_batches as b on b.request_id = q.request_id and b.status = 'done'
    where q.request_type = 'erasure'
        and q.account_id is not null
        and (q.state = 'in_progress'
             or (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive')))
),
last_logs as (
    select l.account_id, max(l.occurred_at) as last_log
    from app.connection_logs as l
    where l.account_id = any(array(select account_id from requested where anonymised_at is not null))
    group by l.account_id
),
verdict as (
    select
        r.request_id,
        case
            when not r.account_exists then 'fulfilled'
            when r.anonymised_at is not null and ll.last_log >= cast(:logs_before as timestamptz) then 'partially_fulfilled'
            when r.anonymised_at is not null then 'fulfilled'
            when r.legal_hold_until >= cast(:as_of_date as date) then 'partially_fulfilled'
            when r.post_mortem_retain_until >= cast(:as_of_date as date) then 'partially_fulfilled'
            when r.restricted then 'refused'
        end as state,
        case
            when not r.account_exists then null
            when r.anonymised_at is not null and ll.last_log >= cast(:logs_before as timestamptz) then 'lcen_connection_logs'
            when r.anonymised_at is not null then null
            when r.legal_hold_until >= cast(:as_of_date as date) then 'legal_hold'
            when r.post_mortem_retain_until >= cast(:as_of_date as date) then 'post_mortem_directive'
        end as kept_reason,
        case
            when r.anonymised_at is not null and ll.last_log >= cast(:logs_before as timestamptz)
                then cast((ll.last_log at time zone 'Europe/Paris')::date
                          + make_interval(years => cast(:log_retention_years as int)) as date)
            when r.anonymised_at is not null then null
            when r.legal_hold_until >= cast(:as_of_date as date) then r.legal_hold_until
            when r.post_mortem_retain_until >= cast(:as_of_date as date) then r.post_mortem_retain_until
        end as kept_until,
        case
            when not r.account_exists then jsonb_build_object('accounts', 0)
            when r.by_request then coalesce(r.rows_deleted, '{}'::jsonb)
                || jsonb_build_object('files', r.files_deleted)
            when r.anonymised_at is not null then jsonb_build_object('accounts', 0, 'already_anonymised', 1)
            else '{}'::jsonb
        end as counts
    from requested as r
    left join last_logs as ll on ll.account_id = r.account_id
),
settled as (
    update retention.subject_requests as q
    set state = v.state,
        kept_reason = v.kept_reason,
        kept_until = v.kept_until,
        state_reason = case v.kept_reason
            when 'legal_hold' then 'The account and its data are kept under a legal hold (GDPR art. 17(3)(b) and (e): '
                || 'legal obligation, establishment, exercise or defence of legal claims) until ' || v.kept_until
                || '; they are erased when it ends.'
            when 'post_mortem_directive' then 'The account is kept as the deceased person''s post-mortem directive '
                || 'asks (loi Informatique et Libertés, art. 85) until ' || v.kept_until || '; erased when it ends.'
            when 'lcen_connection_logs' then 'The account is anonymised; its connection logs are kept one year after '
                || 'each connection (legal obligation: LCEN art. 6, décret 2021-1362), until ' || v.kept_until
                || ' at the latest, then deleted by the nightly run.'
            else case when v.state = 'refused' then 'The processing of this account is restricted at the person''s '
                || 'request (GDPR art. 18): the restriction must be lifted before the erasure. You may lodge a '
                || 'complaint with the CNIL (www.cnil.fr/plaintes, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07).'
            end
        end,
        result_counts = v.counts,
        completed_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    from verdict as v
    where q.request_id = v.request_id and v.state is not null
        and (q.state, q.kept_until) is distinct from (v.state, v.kept_until)
    returning q.state
)
select
    count(*) filter (where state = 'fulfilled') as fulfilled,
    count(*) filter (where state = 'partially_fulfilled') as partially_fulfilled,
    count(*) filter (where state = 'refused') as refused
from settled
