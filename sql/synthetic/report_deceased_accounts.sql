-- Demo, between two nights: the death of some live members is reported, at an instant in
-- (:from_as_of, :to_as_of] (hash of (id, :tag): deterministic). :per_10k is the daily rate.
update app.accounts as a
set deceased_reported_at = :from_as_of + (:to_as_of - :from_as_of)
                           * ((abs(hashtext(a.id::text || ':at:' || :tag)) % 1000 + 1) / 1000.0)
where a.anonymised_at is null
  and a.deceased_reported_at is null
  and a.created_at <= :from_as_of
  and abs(hashtext(a.id::text || ':deceased:' || :tag)) % 10000 < :per_10k * :days
