"""The Retention page of the Airflow UI: what the nightly runs did and what is overdue right now.

Read-only and aggregate by construction: the page reads the pipeline's own audit tables
(``retention.runs``, ``retention.rule_audit``, ``retention.quality_results``) and COUNT(*) figures of
what is past retention; it never selects a personal column. It answers only to users logged into
Airflow (Airflow's own authentication, see :mod:`retention.compliance.auth`).

``app`` builds the FastAPI sub-application mounted by ``plugins/retention_ui_plugin.py``;
``queries`` reads the figures; ``render`` turns them into one self-contained HTML page.
"""
