-- Application database: the pipeline reads what it must, scrubs what it must, owns `retention`
-- and the monthly partitions of connection_logs (to drop expired ones), nothing else.
do $$
begin
    execute format('revoke all on database %I from public', current_database());
    execute format('grant connect, temporary on database %I to retention_pipeline', current_database());
end
$$;
create schema if not exists retention authorization retention_pipeline;
alter schema retention owner to retention_pipeline;
grant usage on schema app to retention_pipeline;
revoke create on schema app from retention_pipeline;
grant select on all tables in schema app to retention_pipeline;
grant update on app.accounts, app.messages to retention_pipeline;
grant delete on app.education, app.experiences, app.languages, app.documents, app.applications,
    app.assessments, app.activity_events, app.connection_logs, app.prospects to retention_pipeline;
-- Dropping an expired partition needs its ownership; the platform's partition job hands over
-- each new monthly partition the same way. The DEFAULT partition stays the platform's.
do $$
declare
    part regclass;
begin
    for part in
        select i.inhrelid::regclass
        from pg_inherits as i
        join pg_class as c on c.oid = i.inhrelid
        where i.inhparent = 'app.connection_logs'::regclass
          and pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
    loop
        execute format('alter table %s owner to retention_pipeline', part);
    end loop;
    for part in
        select i.inhrelid::regclass from pg_inherits as i where i.inhparent = 'app.connection_logs'::regclass
    loop
        execute format('grant select, delete on %s to retention_pipeline', part);
    end loop;
end
$$;
