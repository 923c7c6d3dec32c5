-- Columns (and types) of the application schema the pipeline relies on that are missing or changed.
-- A renamed column must stop the run, not silently anonymise nothing.
with expected (table_name, column_name, data_type) as (
    values
        ('accounts', 'id', 'bigint'), ('accounts', 'email', 'text'), ('accounts', 'first_name', 'text'),
        ('accounts', 'last_name', 'text'), ('accounts', 'phone', 'text'), ('accounts', 'address_line', 'text'),
        ('accounts', 'postal_code', 'text'), ('accounts', 'city', 'text'), ('accounts', 'country_code', 'character'),
        ('accounts', 'birth_date', 'date'), ('accounts', 'nationality', 'character'), ('accounts', 'linkedin_url', 'text'),
        ('accounts', 'work_authorisation', 'boolean'), ('accounts', 'availability', 'text'),
        ('accounts', 'created_at', 'timestamp with time zone'), ('accounts', 'last_login_at', 'timestamp with time zone'),
        ('accounts', 'closed_at', 'timestamp with time zone'), ('accounts', 'deceased_reported_at', 'timestamp with time zone'),
        ('accounts', 'post_mortem_retain_until', 'date'), ('accounts', 'legal_hold_until', 'date'),
        ('accounts', 'anonymised_at', 'timestamp with time zone'),
        ('education', 'account_id', 'bigint'), ('education', 'level', 'text'),
        ('experiences', 'account_id', 'bigint'), ('experiences', 'is_annotation', 'boolean'),
        ('languages', 'account_id', 'bigint'), ('languages', 'language', 'text'), ('languages', 'level', 'text'),
        ('documents', 'id', 'bigint'), ('documents', 'account_id', 'bigint'), ('documents', 'storage_uri', 'text'),
        ('projects', 'id', 'bigint'), ('projects', 'published_at', 'timestamp with time zone'),
        ('applications', 'account_id', 'bigint'), ('applications', 'project_id', 'bigint'),
        ('applications', 'applied_at', 'timestamp with time zone'), ('applications', 'matching_score', 'numeric'),
        ('assessments', 'account_id', 'bigint'), ('assessments', 'assessment_code', 'text'),
        ('assessments', 'score', 'numeric'), ('assessments', 'completed_at', 'timestamp with time zone'),
        ('messages', 'sender_id', 'bigint'), ('messages', 'body', 'text'), ('messages', 'sent_at', 'timestamp with time zone'),
        ('activity_events', 'account_id', 'bigint'), ('activity_events', 'feature', 'text'),
        ('activity_events', 'occurred_at', 'timestamp with time zone'),
        ('connection_logs', 'occurred_at', 'timestamp with time zone'), ('connection_logs', 'ip', 'inet'),
        ('prospects', 'id', 'bigint'), ('prospects', 'collected_at', 'timestamp with time zone'),
        ('prospects', 'last_contact_at', 'timestamp with time zone'), ('prospects', 'objected_at', 'timestamp with time zone')
)
select e.table_name, e.column_name
from expected as e
left join information_schema.columns as c
    on c.table_schema = 'app' and c.table_name = e.table_name
    and c.column_name = e.column_name and c.data_type = e.data_type
where c.column_name is null
