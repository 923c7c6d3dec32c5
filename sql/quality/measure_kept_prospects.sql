-- Prospects within retention before the purge (bound) against now: none of them may go.
select :kept_before as observed,
    (select count(*) from app.prospects
     where not (coalesce(objected_at <= :as_of, false) or greatest(collected_at, last_contact_at) < :prospects_before))
        as expected
