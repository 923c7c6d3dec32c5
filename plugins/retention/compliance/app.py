"""The FastAPI sub-application of the Retention page, mounted by Airflow's api-server at ``/retention``.

Routes (every one behind Airflow's login, see :mod:`retention.compliance.auth`):

``GET /retention/``                 the page (HTML, inline SVG chart, nothing loaded from elsewhere)
``GET /retention/api/summary``      the same figures as JSON
``GET /retention/proof.csv``        the year of proof, per month, as CSV (for an auditor)
``GET /retention/data-docs/{path}`` the Great Expectations Data Docs, read-only, from
                                    :func:`retention.quality.gates.docs_root`
``GET /retention/icon.svg``         the navigation icon

Nothing is opened at import (the plugin module is imported when the api-server starts, and by
every other Airflow component): the database engine is created by the first request.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from retention.compliance.auth import LoginRequired, require_browser_user, require_user

log = logging.getLogger(__name__)

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#7d8793" '
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M12 3l7 3v5c0 4.5-3 8.5-7 10'
    '-4-1.5-7-5.5-7-10V6l7-3z"/><path d="M9 12l2 2 4-4"/></svg>'
)
NO_STORE = {"Cache-Control": "no-store"}


def _page_data():
    from retention.compliance.queries import engine, read_page

    return read_page(engine())


def _unavailable(exc: Exception) -> str:
    # The message names the kind of failure only: a driver message may quote connection details.
    log.exception("Retention page: the application database could not be read")
    return f"The application database could not be read ({type(exc).__name__}); see the api-server log."


def create_app() -> FastAPI:
    app = FastAPI(title="GDPR retention: compliance page", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.login_url, status_code=307, headers=NO_STORE)

    @app.get("/", response_class=HTMLResponse, dependencies=[Depends(require_browser_user)])
    def page() -> HTMLResponse:
        from retention.compliance.render import render_error, render_page

        try:
            data = _page_data()
        except Exception as exc:  # shown as a page, logged in full
            return HTMLResponse(render_error("Retention: data unavailable", _unavailable(exc)), status_code=503,
                                headers=NO_STORE)
        return HTMLResponse(render_page(data), headers=NO_STORE)

    @app.get("/api/summary", dependencies=[Depends(require_user)])
    def summary() -> JSONResponse:
        from retention.compliance.queries import PROOF_COLUMNS, proof_rows

        try:
            data = _page_data()
        except Exception as exc:
            return JSONResponse({"detail": _unavailable(exc)}, status_code=503, headers=NO_STORE)
        body: dict[str, Any] = {
            "generated_at": data.generated_at.isoformat(),
            "backlog": {**asdict(data.backlog), "as_of": data.backlog.as_of.isoformat(), "clear": data.backlog.clear},
            "stale": data.stale,
            "backlog_at_last_run": None if data.backlog_at_last_run is None else {
                **asdict(data.backlog_at_last_run), "clear": data.backlog_at_last_run.clear},
            "inactivity_notices": None if data.notices is None else asdict(data.notices),
            "proof": [dict(zip(PROOF_COLUMNS, row, strict=True)) for row in proof_rows(data.months)],
            "runs": [{**asdict(run), "anonymised_total": run.anonymised_total, "gates_passed": run.gates_passed}
                     for run in data.runs],
            "policy": {key: {"value": value, "basis": data.policy.bases[key]}
                       for key, value in data.policy.values().items()},
        }
        return JSONResponse(_jsonable(body), headers=NO_STORE)

    @app.get("/proof.csv", dependencies=[Depends(require_browser_user)])
    def proof() -> Response:
        from retention.compliance.queries import proof_csv

        try:
            data = _page_data()
        except Exception as exc:
            return Response(_unavailable(exc), status_code=503, media_type="text/plain", headers=NO_STORE)
        last = data.last_as_of.strftime("%Y-%m") if data.last_as_of else "none"
        return Response(proof_csv(data.months), media_type="text/csv; charset=utf-8", headers={
            **NO_STORE, "Content-Disposition": f'attachment; filename="gdpr-retention-proof-{last}.csv"'})

    @app.get("/data-docs/{path:path}", dependencies=[Depends(require_browser_user)])
    async def data_docs(path: str, request: Request) -> Response:
        import os

        from starlette.staticfiles import StaticFiles

        from retention.quality.gates import docs_root

        # Normalised as StaticFiles normalises its own mounts; lookup then refuses anything that
        # resolves outside the root (.., absolute paths, symlinks), and only GET/HEAD are served.
        relative = os.path.normpath(os.path.join(*path.split("/"))) if path else "."
        files = StaticFiles(directory=docs_root(), html=True, check_dir=False)
        return await files.get_response(relative, request.scope)

    @app.get("/icon.svg", dependencies=[Depends(require_user)])
    def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml")

    return app


def _jsonable(value: Any) -> Any:
    from datetime import date, datetime

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
