-- Cluster roles (run once by an administrator). No superuser, no CREATEDB, no CREATEROLE.
-- Passwords are set out of band (ALTER ROLE ... PASSWORD) or by the deployment's secret store.
do $$
begin
    if not exists (select from pg_roles where rolname = 'retention_pipeline') then
        create role retention_pipeline login nosuperuser nocreatedb nocreaterole noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'analyst') then
        create role analyst nologin nosuperuser nocreatedb nocreaterole;
    end if;
exception when unique_violation or duplicate_object then
    null;  -- another session created it concurrently
end
$$;
