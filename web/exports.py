"""`GET /exports/{token}`: the one way an export archive leaves the server.

The token is the authority (like a mailed sign-in link): it is single-use, expires with the
export, and only its hash is stored. It opens the archive only while its requester still has the
standing the export needs (`resolvers.exports.entitled`). Anything it does not open is a plain
404, the same whatever the reason, so a stranger holding the link learns nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from resolvers.exports import redeem_download

NOT_FOUND = {"error": "This download link is unknown, used or expired. Ask the API for a new "
                      "one: me { dataExports(first: 1) { nodes { downloadUrl } } }."}


NUL_REFUSED = {"error": "The link may not contain the NUL character (U+0000)."}


async def download_export(request: Request) -> Response:
    token = request.path_params["token"]
    if "\x00" in token:  # no token of ours holds it: the link was mangled
        return JSONResponse(NUL_REFUSED, status_code=400)
    work = await redeem_download(token) if 0 < len(token) <= 128 else None
    if work is None or work.archive_key is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    data = await request.app.state.services.storage.load(work.archive_key)
    if data is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    name = f"relleks-{work.kind.value.replace('_', '-')}-{work.created_at:%Y%m%d}.zip"
    return Response(data, media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="{name}"',
        "cache-control": "no-store", "referrer-policy": "no-referrer"})
