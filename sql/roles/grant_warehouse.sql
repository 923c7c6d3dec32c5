-- Warehouse: the pipeline owns `stats` and `published`; analysts read `published` only.
do $$
begin
    execute format('revoke all on database %I from public', current_database());
    execute format('grant connect on database %I to retention_pipeline, analyst', current_database());
end
$$;
create schema if not exists stats authorization retention_pipeline;
alter schema stats owner to retention_pipeline;
create schema if not exists published authorization retention_pipeline;
alter schema published owner to retention_pipeline;
revoke all on schema public from analyst;
