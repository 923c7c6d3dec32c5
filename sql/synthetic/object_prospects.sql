-- Demo, between two nights: some prospects object to being contacted (:per_10k per 10,000 a day),
-- at an instant in (:from_as_of, :to_as_of] (hash of (id, :tag): deterministic).
update app.prospects as p
set objected_at = :from_as_of + (:to_as_of - :from_as_of)
                  * ((abs(hashtext(p.id::text || ':at:' || :tag)) % 1000 + 1) / 1000.0)
where p.objected_at is null
  and p.collected_at <= :from_as_of
  and abs(hashtext(p.id::text || ':object:' || :tag)) % 10000 < :per_10k * :days
