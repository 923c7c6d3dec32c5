"""Airflow's own authentication for the page: no second login.

The user is resolved by ``airflow.api_fastapi.core_api.security.get_user``, the dependency every
route of Airflow's REST API uses: an ``Authorization: Bearer`` JWT if one is sent, else the ``_token``
cookie the Airflow UI sets at login (or the user already validated by Airflow's JWT refresh
middleware), validated by the auth manager (``get_auth_manager().get_user_from_token``). The user must
then be allowed to see the Airflow website (``is_authorized_view(AccessView.WEBSITE)``), as for any
page of the UI.

Airflow is imported when a request comes, not at import: the plugin module is also imported by the
scheduler, the DAG processor and task runners, which never serve the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status


class LoginRequired(Exception):
    """No valid Airflow session: a browser is sent to Airflow's login page, then back."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


async def _airflow_user(request: Request) -> Any:
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request=request, _oauth_token=None, bearer_credentials=credentials)


def _authorize(user: Any) -> None:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")


async def require_user(request: Request) -> Any:
    """For API-style routes: 401 (no or expired token) or 403 (invalid token, not allowed)."""
    user = await _airflow_user(request)
    _authorize(user)
    return user


async def require_browser_user(request: Request) -> Any:
    """For pages: a request without a valid session is redirected to Airflow's login page."""
    try:
        user = await _airflow_user(request)
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            from airflow.api_fastapi.app import get_auth_manager

            # Back to the same page after login; a path, not a URL built from the Host header.
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(get_auth_manager().get_url_login(next_url=back)) from None
        raise
    _authorize(user)
    return user
