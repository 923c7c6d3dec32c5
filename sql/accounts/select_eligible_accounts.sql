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
    -- Held by a request (restricted, or an access or portability request still open): kept as it is
    -- whatever its dates; what holds it now counts, even on a rerun of an earlier night.
    and not exists (select 1 from retention.accounts_held_by_requests as h where h.account_id = a.id)
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
