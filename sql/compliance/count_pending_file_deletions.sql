-- Backlog: stored documents of already anonymised accounts that the object store has not yet
-- accepted to delete (ids of documents, counted, never listed).
select count(*) as pending
from retention.pending_file_deletions
