-- Backlog: prospects past retention, or objected, right now (partial index on objected_at and
-- expression index on greatest(collected_at, last_contact_at): a bitmap OR of the two).
select count(*) as expired
from app.prospects
where objected_at <= :as_of
   or greatest(collected_at, last_contact_at) < :prospects_before
