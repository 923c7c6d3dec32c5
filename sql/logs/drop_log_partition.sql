-- Drop one expired partition (its bounds are at or before the cutoff). Takes ACCESS EXCLUSIVE on the
-- partition, the parent and the DEFAULT partition for milliseconds; the caller's transaction-local
-- lock_timeout bounds how long the application's inserts can queue behind the request.
drop table {relation}
