-- Packages past their retention as of :as_of (expiry day before the as-of's Paris date), still
-- present: the files delete_expired_packages removes (partial index subject_requests_package_expiry_idx).
select q.request_id, q.package_uri
from retention.subject_requests as q
where q.package_uri is not null and q.package_deleted_at is null
    and q.package_expires_on < (cast(:as_of as timestamptz) at time zone 'Europe/Paris')::date
order by q.request_id
