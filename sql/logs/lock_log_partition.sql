-- Before counting and dropping an expired partition: block writes into that partition only (inserts
-- into other partitions go on), so the count recorded in the audit is exactly what the DROP removes.
lock table {relation} in share mode
