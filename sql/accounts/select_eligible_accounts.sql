-- Accounts eligible for anonymisation at :as_of, each with the one reason that applies
-- (precedence: deceased, closed, inactive), restricted to ids in [:id_from, :id_to].
-- A timestamp after :as_of never makes an account eligible; activity after :as_of still counts.
select
    a.id,
    case
        when a.deceased_reported_at <= :as_of then 'deceased'
        when a.closed_at <= :closed_on_or_before then 'closed'
        else 'inactive'
    end as reason
from app.accounts as a
where
    a.anonymised_at is null
    and a.id between :id_from and :id_to
    and (a.legal_hold_until is null or a.legal_hold_until < :as_of_date)
    and (a.post_mortem_retain_until is null or a.post_mortem_retain_until < :as_of_date)
    -- A restricted account (GDPR art. 18, retention.restrictions) is kept as it is whatever its
    -- dates: the restriction in force now counts, even on a rerun of an earlier night.
    and not exists (select 1 from retention.restrictions as r where r.account_id = a.id)
    -- An access or portability request still open for the account (received, waiting for the
    -- identity proof, in progress): the night waits for its package, so that the copy is complete
    -- (at most until the request's due date: a request still unproven then is refused).
    and not exists (
        select 1 from retention.subject_requests as q
        where q.account_id = a.id
            and q.request_type in ('access', 'portability')
            and q.state in ('received', 'identity_pending', 'in_progress')
    )
    and (
        a.deceased_reported_at <= :as_of
        or a.closed_at <= :closed_on_or_before
        or (
            greatest(a.created_at, a.last_login_at) < :inactive_before
            and not exists (
                select 1 from app.activity_events as e
                where e.account_id = a.id and e.occurred_at >= :inactive_before
            )
            and not exists (
                select 1 from app.applications as p
                where p.account_id = a.id and p.applied_at >= :inactive_before
            )
            and not exists (
                select 1 from app.messages as m
                where m.sender_id = a.id and m.sent_at >= :inactive_before
            )
            and not exists (
                select 1 from app.assessments as s
                where s.account_id = a.id and s.completed_at >= :inactive_before
            )
        )
    )
