"""The webhook receiver `bench/webhooks.py` delivers to: a bare Starlette app on loopback that
answers 204 at once on `/fast` and after `SLOW_SECONDS` (2 s) on `/slow`, and records the
arrival time (`time.time()`, taken before any wait) of every delivery by its `webhook-id`.

    uvicorn bench.webhook_receiver:app --port 18091

`GET /arrivals?path=fast` returns `{webhook-id: [arrival, ...]}` (a redelivered id has several);
`POST /reset` forgets everything.
"""

from __future__ import annotations

import asyncio
import os
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SLOW_SECONDS = float(os.environ.get("BENCH_SLOW_SECONDS", "2"))
ARRIVALS: dict[str, dict[str, list[float]]] = {"fast": {}, "slow": {}}


async def hook(request: Request) -> Response:
    at = time.time()
    name = request.path_params["name"]
    await request.body()
    ARRIVALS.setdefault(name, {}).setdefault(request.headers.get("webhook-id", "?"),
                                             []).append(at)
    if name == "slow":
        await asyncio.sleep(SLOW_SECONDS)
    return Response(status_code=204)


async def arrivals(request: Request) -> Response:
    return JSONResponse(ARRIVALS.get(request.query_params.get("path", "fast"), {}))


async def reset(request: Request) -> Response:
    for seen in ARRIVALS.values():
        seen.clear()
    return Response(status_code=204)


app = Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"]),
                        Route("/arrivals", arrivals), Route("/reset", reset, methods=["POST"])])
