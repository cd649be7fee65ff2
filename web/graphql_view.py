"""The `/graphql` endpoint: Strawberry's ASGI view, tuned to the GraphQL-over-HTTP spec.

On top of Strawberry it adds: the request context (viewer, services, request id),
`application/graphql-response+json` with spec status codes when the client accepts it, JSON
bodies for transport errors, an execution timeout, and no operation batching.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from auth.authenticate import authenticate
from context import Context
from errors import ErrorCode
from services import Services

GRAPHQL_RESPONSE = "application/graphql-response+json"


def wants_graphql_response(request: Request) -> bool:
    """Whether the client prefers the GraphQL-over-HTTP media type to plain JSON."""
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media == GRAPHQL_RESPONSE:
            return True
        if media in {"application/json", "*/*", "application/*"}:
            return False
    return False


def error_body(message: str, code: ErrorCode = ErrorCode.BAD_USER_INPUT,
               **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code.value, **extensions}}]}


class GraphQLView(GraphQL):
    def __init__(self, schema: Any, services: Services) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            multipart_uploads_enabled=True,
            subscription_protocols=(),
        )
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        viewer = await authenticate(request, self.services.settings)
        state = request.scope.setdefault("state", {})
        if viewer.user is not None:
            state["user_id"] = str(viewer.user.id)
        return Context(
            request=request,  # type: ignore[arg-type]
            response=response,
            services=self.services,
            request_id=state.get("request_id", "-"),
            viewer=viewer,
        )

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            raise HTTPException(400, "Operation batching is not supported: send one operation.")
        return data

    def _validate_batch_request(self, *args: Any, **kwargs: Any) -> None:
        raise HTTPException(400, "Operation batching is not supported: send one operation.")

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        timeout = self.services.settings.execution_timeout
        request_data = kwargs.get("request_data")
        if request_data is not None:
            kwargs["request"].scope.setdefault("state", {})["operation_name"] = \
                request_data.operation_name
        try:
            return await asyncio.wait_for(super().execute_single(*args, **kwargs), timeout)
        except TimeoutError:
            return ExecutionResult(data=None, errors=[GraphQLError(
                f"The operation took longer than {timeout:g} seconds and was stopped: "
                "ask for fewer objects or split it.",
                extensions={"code": ErrorCode.BAD_USER_INPUT.value, "reason": "TIMEOUT"})])

    async def process_result(self, request: Request, result: ExecutionResult
                             ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        # The spec: with the graphql-response media type, a request that failed before execution
        # (no `data` key at all) is a client error (400).
        if wants_graphql_response(request) and result.data is None and result.errors:
            request.state.graphql_status = 400
        return response

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            status = exc.status_code
            if request.method == "GET" and "not allowed when using GET" in exc.reason:
                status = 405  # GraphQL over HTTP: a mutation over GET is Method Not Allowed
            response = JSONResponse(error_body(exc.reason), status_code=status)
            if status == 405:
                response.headers["Allow"] = "GET, POST"
        graphql_response = wants_graphql_response(request)
        if response.media_type == "application/json" or \
                response.headers.get("content-type", "").startswith("application/json"):
            if graphql_response:
                response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
                status = getattr(request.state, "graphql_status", None)
                if status and response.status_code == 200:
                    response.status_code = status
            else:
                response.headers["content-type"] = "application/json; charset=utf-8"
        await response(scope, receive, send)
        return None
