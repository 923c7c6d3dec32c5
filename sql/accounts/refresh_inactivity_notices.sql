-- Rebuild the notice list from tonight's computation (staged in upcoming_notices), in one statement.
with dropped as (
    delete from retention.inactivity_notices as n
    where not exists (select 1 from upcoming_notices as u where u.account_id = n.account_id)
    returning 1
),
upserted as (
    insert into retention.inactivity_notices (account_id, notice_due_on, anonymise_on)
    select account_id, notice_due_on, anonymise_on from upcoming_notices
    on conflict (account_id) do update
        set notice_due_on = excluded.notice_due_on, anonymise_on = excluded.anonymise_on
        where (inactivity_notices.notice_due_on, inactivity_notices.anonymise_on)
            is distinct from (excluded.notice_due_on, excluded.anonymise_on)
    returning 1
)
select (select count(*) from dropped) as dropped, (select count(*) from upserted) as upserted
