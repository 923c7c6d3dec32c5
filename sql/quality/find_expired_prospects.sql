select 1 from app.prospects
where objected_at <= :as_of or greatest(collected_at, last_contact_at) < :prospects_before
limit 1
