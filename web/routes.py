"""Plain HTTP routes: the root, health checks and locally stored media."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from tortoise import connections

from storage import LocalStorage
from web.sites import site_home, site_org


async def root(request: Request) -> Response:
    """`/` of a tenant's custom domain lists its forms (`web/sites.py`); on the API's own host
    it has nothing of its own: the API (and GraphiQL, for a browser) is at `/graphql`."""
    if site_org(request) is not None:
        return await site_home(request)
    return RedirectResponse("/graphql", status_code=307)


async def healthz(request: Request) -> Response:
    """The process is alive (no dependency is checked: a load balancer must not restart every
    instance because the database blinked)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The process can serve: the database answers."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # any failure means not ready; the reason goes to the log, not the client
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


PRIVATE = ("exports", "support")
"""Stored keys that are never public: export archives leave only through `/exports/{token}`,
support attachments (encrypted) only through `/support/attachments/{id}`."""


async def media(request: Request) -> Response:
    storage = request.app.state.services.storage
    if not isinstance(storage, LocalStorage):
        return JSONResponse({"error": "not found"}, status_code=404)
    try:
        path = storage.path(request.path_params["key"])
    except ValueError:
        return JSONResponse({"error": "not found"}, status_code=404)
    root = storage.root.resolve()
    if not path.is_file() or any(path.is_relative_to(root / p) for p in PRIVATE):
        return JSONResponse({"error": "not found"}, status_code=404)
    return FileResponse(path, headers={"cache-control": "public, max-age=86400"})
