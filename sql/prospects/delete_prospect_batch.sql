-- One batch: the deletable prospects whose id lies in [id_from, id_to] (a primary-key range scan;
-- the rule is re-checked, so a prospect contacted since the plan was made stays). Deleted, not
-- anonymised. Returns the counts per reason (an objection wins when both apply).
with deleted as (
    delete from app.prospects as p
    where
        p.id between cast(:id_from as bigint) and cast(:id_to as bigint)
        and (
            p.objected_at <= cast(:as_of as timestamptz)
            or greatest(p.collected_at, p.last_contact_at) < cast(:prospects_before as timestamptz)
        )
    returning coalesce(p.objected_at <= cast(:as_of as timestamptz), false) as objected
)

select
    count(*) filter (where objected) as objected,
    count(*) filter (where not objected) as expired
from deleted
