-- The server's deadlock_timeout in milliseconds: the DROP of an expired partition waits for the
-- parent's lock for less than this, so that a deadlock with a late insert is never the insert's.
select cast(setting as integer) as milliseconds
from pg_settings
where name = 'deadlock_timeout'
