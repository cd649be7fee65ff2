"""The trace collector `make bench-tracing` exports to: a bare OTLP/HTTP receiver on loopback that
accepts spans in the real wire format and discards them.

`POST /v1/traces` takes what the SDK's `OTLPSpanExporter` sends (an `ExportTraceServiceRequest`
in protobuf, gzip'd or not), decodes it with `opentelemetry-proto`, counts its spans by name and
answers an `ExportTraceServiceResponse`, as a collector does. Decoding is the point: a receiver
that answered 200 to anything would not show that the spans were complete. The spans are then
dropped (nothing is kept but the counts).

    uvicorn bench.otlp_receiver:app --port 18084
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:18084 uvicorn server:app ...

`GET /stats` returns `{"requests": exports received, "spans": spans in them, "names": {span
name: count}}`; `POST /reset` forgets them.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROTOBUF = "application/x-protobuf"


class Counts:
    requests = 0
    spans = 0
    names: Counter[str] = Counter()


COUNTS = Counts()


async def traces(request: Request) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip() != PROTOBUF:
        return Response("only application/x-protobuf", status_code=415)
    body = await request.body()
    encoding = request.headers.get("content-encoding", "")
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
    except Exception:  # gzip's, zlib's or protobuf's DecodeError: not an export
        return Response("not an ExportTraceServiceRequest", status_code=400)
    COUNTS.requests += 1
    for resource_spans in export.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                COUNTS.spans += 1
                COUNTS.names[span.name] += 1
    return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)


async def stats(request: Request) -> Response:
    return JSONResponse({"requests": COUNTS.requests, "spans": COUNTS.spans,
                         "names": dict(COUNTS.names.most_common())})


async def reset(request: Request) -> Response:
    COUNTS.requests = COUNTS.spans = 0
    COUNTS.names.clear()
    return Response(status_code=204)


app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"]), Route("/stats", stats),
                        Route("/reset", reset, methods=["POST"])])
