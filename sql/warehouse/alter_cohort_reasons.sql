-- Accounts anonymised on an erasure request (issue 19) are counted under reason 'erasure'.
-- Replaces the reason check of stats.anonymised_cohorts once, on databases created before.
do $$
begin
    if not exists (
        select from pg_constraint
        where conrelid = 'stats.anonymised_cohorts'::regclass and contype = 'c'
            and position('erasure' in pg_get_constraintdef(oid)) > 0
    ) then
        alter table stats.anonymised_cohorts drop constraint if exists anonymised_cohorts_reason_check;
        alter table stats.anonymised_cohorts add constraint anonymised_cohorts_reason_check
            check (reason in ('deceased', 'closed', 'inactive', 'erasure'));
    end if;
end
$$;
