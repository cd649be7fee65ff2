"""`GET /support/attachments/{id}`: the one way a support attachment's bytes leave the server.

The caller authenticates as for the API (a bearer access token or the session cookie); only
the ticket's requester and Relleks staff get the file (`resolvers.support_attachments.
open_attachment`), everyone else the same plain 404 as for an id that does not exist, so a
stranger learns nothing; without a credential: 401. The file is served as a download
(`Content-Disposition: attachment`), with the type sniffed when it was uploaded and
`X-Content-Type-Options: nosniff`, so a browser never renders it as a page of ours, and is
never cached by a shared cache.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry import relay

from auth.authenticate import authenticate
from core.errors import NotFound
from engine.fields import decode_id
from resolvers.support_attachments import open_attachment

NOT_FOUND = {"error": "No such attachment."}
UNAUTHENTICATED = {"error": "Sign in: send `Authorization: Bearer <access token>` (or the "
                            "session cookie), as for the API."}


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the UTF-8 one (RFC 6266, RFC 5987)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


NUL_REFUSED = {"error": "The link may not contain the NUL character (U+0000)."}


async def download_attachment(request: Request) -> Response:
    services = request.app.state.services
    raw = request.path_params["id"]
    if "\x00" in raw:  # no id of ours holds it: the link was mangled (as for /exports)
        return JSONResponse(NUL_REFUSED, status_code=400)
    viewer = await authenticate(request, services.settings)
    if viewer.user is None and viewer.credential is None:
        return JSONResponse(UNAUTHENTICATED, status_code=401,
                            headers={"www-authenticate": "Bearer", "cache-control": "no-store"})
    try:
        if not 0 < len(raw) <= 200:
            raise NotFound("attachment")
        try:
            global_id = relay.GlobalID.from_id(raw)
        except Exception as exc:  # not base64, or no `Type:id` inside: no such attachment
            raise NotFound("attachment") from exc
        attachment_id = decode_id(global_id, "SupportAttachment")
        found = await open_attachment(services, viewer, attachment_id)
    except NotFound:
        return JSONResponse(NOT_FOUND, status_code=404, headers={"cache-control": "no-store"})
    return Response(found.data, media_type=found.content_type, headers={
        "content-disposition": content_disposition(found.name),
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "private, no-store", "referrer-policy": "no-referrer"})
