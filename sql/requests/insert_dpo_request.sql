-- A request the DPO started from the Airflow UI (gdpr_subject_requests' params): an account only
-- (a prospect's e-mail would be kept in Airflow's metadata; the platform inserts those here).
-- Idempotent per DAG run: a retried task inserts nothing more.
insert into retention.subject_requests
    (request_type, account_id, received_at, identity_verified_at, intake_run_id)
values (:request_type, :account_id, :received_at, :identity_verified_at, :run_id)
on conflict (intake_run_id) do nothing
