-- Tonight's deletable prospects, cut once into primary-key ranges of batch_size prospects each.
-- A prospect goes when it objected on or before as_of, or when neither its collection nor its last
-- contact is younger than the retention period (greatest() ignores a null last contact, and counts a
-- contact dated after as_of, which therefore keeps the prospect). Found through the two indexes of the
-- reference schema (prospects_objected_idx, prospects_last_touch_idx; a BitmapOr), in one pass.
-- Returns one row per batch (bounds and counts per reason), never a prospect's data.
with candidates as (
    select
        p.id,
        coalesce(p.objected_at <= cast(:as_of as timestamptz), false) as objected
    from app.prospects as p
    where
        p.objected_at <= cast(:as_of as timestamptz)
        or greatest(p.collected_at, p.last_contact_at) < cast(:prospects_before as timestamptz)
),

numbered as (
    select
        id,
        objected,
        (row_number() over (order by id) - 1) / cast(:batch_size as bigint) as batch_no
    from candidates
)

select
    batch_no,
    min(id) as id_from,
    max(id) as id_to,
    count(*) filter (where objected) as objected,
    count(*) filter (where not objected) as expired
from numbered
group by batch_no
order by batch_no
