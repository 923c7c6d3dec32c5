-- Rows an expired partition holds (recorded in the audit in the transaction that drops it).
select count(*) as row_count
from {relation}
