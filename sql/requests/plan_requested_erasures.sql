-- Erasure requests for accounts that can be anonymised now, each as a batch of one account in the
-- nightly ledger (retention.account_batches, source 'request'), so that process_batch anonymises
-- it by the nightly code path and the warehouse counts it once, whichever commits first. A request
-- whose account is held (legal hold, directive), restricted or already anonymised is not planned:
-- settle_requested_erasures.sql says why. The erasable set is spliced in from
-- sql/accounts/select_erasable_accounts.sql (probed per requested account, by primary key).
-- Each planned request counts one more attempt. Returns the batches (numbers, request ids).
with requested as (
    select distinct on (q.account_id) q.request_id, q.account_id
    from retention.subject_requests as q
    where q.request_type = 'erasure'
        and q.account_id is not null
        and (q.state = 'in_progress'
             or (q.state = 'partially_fulfilled' and q.kept_reason in ('legal_hold', 'post_mortem_directive')))
        and exists (select 1 from ({erasable}) as e where e.id = q.account_id)
    order by q.account_id, q.received_at, q.request_id
),
numbered as (
    select request_id, account_id, (row_number() over (order by account_id) - 1)::int as batch_no
    from requested
),
members as (
    insert into retention.batch_accounts (plan_id, batch_no, account_id, reason)
    select :plan_id, batch_no, account_id, 'erasure' from numbered
),
ledger as (
    insert into retention.account_batches
        (plan_id, batch_no, run_id, as_of, warehouse_key, id_from, id_to, planned_accounts, source, request_id)
    select :plan_id, batch_no, :run_id, :as_of, :plan_id || '-' || batch_no, account_id, account_id, 1, 'request',
           request_id
    from numbered
),
attempted as (
    update retention.subject_requests as q
    set attempts = q.attempts + 1, updated_at = clock_timestamp()
    from numbered as n
    where q.request_id = n.request_id
)
select batch_no, request_id from numbered order by batch_no
