select count(*) from app.prospects
where not (coalesce(objected_at <= :as_of, false) or greatest(collected_at, last_contact_at) < :prospects_before)
