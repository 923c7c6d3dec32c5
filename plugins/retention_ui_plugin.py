"""Airflow plugin: the "Retention" page in the Airflow UI's navigation.

* ``fastapi_apps``: the page's FastAPI application, mounted by the api-server at ``/retention``
  (see :mod:`retention.compliance.app`); every route requires an Airflow login.
* ``external_views``: a navigation entry, "Retention", that shows ``/retention/`` inside the UI
  (an iframe at ``/plugin/retention``, same origin, so the Airflow session applies). ``href`` and
  ``icon`` are relative (no leading slash): the UI resolves them against its base URL, so the page
  also works when Airflow is served under a path prefix (``[api] base_url``).

Importing this module opens nothing: the database is reached by the page's first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from retention.compliance.app import create_app

URL_PREFIX = "/retention"


class RetentionUiPlugin(AirflowPlugin):
    name = "retention_ui"
    fastapi_apps = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "GDPR retention compliance page"},
    ]
    external_views = [
        {
            "name": "Retention",
            "href": "retention/",
            "url_route": "retention",
            "destination": "nav",
            "icon": "retention/icon.svg",
        },
    ]
