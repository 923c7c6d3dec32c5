-- Demo, between two nights: some live members close their account, at an instant in
-- (:from_as_of, :to_as_of]. Chosen and timed by a hash of (id, :tag): deterministic for a seed and
-- a pair of nights, never the wall clock. :per_10k is the daily rate per 10,000 live accounts.
update app.accounts as a
set closed_at = :from_as_of + (:to_as_of - :from_as_of)
                * ((abs(hashtext(a.id::text || ':at:' || :tag)) % 1000 + 1) / 1000.0)
where a.anonymised_at is null
  and a.closed_at is null
  and a.deceased_reported_at is null
  and a.created_at <= :from_as_of
  and abs(hashtext(a.id::text || ':close:' || :tag)) % 10000 < :per_10k * :days
