"""The `/graphql` endpoint: Strawberry's ASGI view, tuned to the GraphQL-over-HTTP spec.

On top of Strawberry it adds: the request context (viewer, services, request id),
`application/graphql-response+json` with spec status codes when the client accepts it, no `data`
key for request errors (parse, validation, variable coercion), JSON bodies with an error code for
transport errors, an INTERNAL error with the request id for anything unexpected, an execution
timeout, no operation batching, and the `Idempotency-Key` header of idempotent mutations
(`web/idempotency.py`). `scripts/graphql_http_audit.sh` checks it against the `graphql-http`
audit suite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import structlog
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from auth.authenticate import authenticate
from auth.viewer import Viewer
from core.error_reports import report_exception
from core.errors import ErrorCode
from engine.context import Context
from engine.direct import DirectAnswers
from engine.documents import TrustedDocument, TrustedDocuments
from engine.extensions import INTERNAL_MESSAGE, finalize_errors
from observability.metrics import count_client_disconnect, record_request
from services import Services
from web import idempotency
from web.counting import count_usage
from web.graphiql import render_page
from web.graphql_ws import LimitedWebSocket, TransportWSHandler
from web.idempotency import IdempotencyRefused, Replay
from web.middleware import BodyTooLarge
from web.persisted import DocumentRefused, refusal_of_free_text, requested_document

GRAPHQL_RESPONSE = "application/graphql-response+json"
BATCHING = "Operation batching is not supported: send one operation."
NOT_AN_OBJECT = ("The request body must be a JSON object with the operation: "
                 '{"query": ..., "variables": {...}}.')
BAD_MULTIPART = ("Unable to parse the multipart body: it needs a boundary and the GraphQL "
                 "multipart request fields (`operations`, a JSON object, and `map`).")
SUBSCRIPTION_OVER_HTTP = ("Subscriptions need a WebSocket: connect to /graphql with "
                          "graphql-transport-ws.")
JSON_WHITESPACE = b" \t\r\n"
# What each method may run over HTTP. Strawberry also allows subscriptions (for its multipart and
# SSE transports, which this server does not offer): run as a plain operation they failed INTERNAL.
HTTP_OPERATIONS = {"GET": frozenset({OperationType.QUERY}),
                   "POST": frozenset({OperationType.QUERY, OperationType.MUTATION})}
log = structlog.get_logger("relleks.errors")

# Transport errors (raised by Strawberry before any GraphQL runs) by HTTP status.
STATUS_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.BAD_USER_INPUT}


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


def _state(request: Request | WebSocket) -> dict[str, Any]:
    """The per-request values shared with the middleware (request id, user id, operation)."""
    return request.scope.setdefault("state", {})


def subscription_over_http() -> ExecutionResult:
    """A subscription sent over HTTP: a request error (nothing ran), pointing at the WebSocket."""
    return ExecutionResult(data=None, errors=[GraphQLError(SUBSCRIPTION_OVER_HTTP, extensions={
        "code": ErrorCode.BAD_USER_INPUT.value, "reason": "SUBSCRIPTION_OVER_HTTP"})])


def is_request_error(result: ExecutionResult) -> bool:
    """A request error (GraphQL spec 7.1.2) stops the request before execution: nothing in the
    result has a path, and there is no data. Such a response carries no `data` key."""
    return result.data is None and bool(result.errors) and \
        all(error.path is None for error in result.errors or ())


@dataclass
class OperationRequest(GraphQLRequestData):
    """The operation as read from the request, with the trusted document it names (its text is
    then `query`) or why the id it sent cannot be used (`refusal`, a request error)."""

    document: TrustedDocument | None = None
    refusal: GraphQLError | None = None


class GraphQLView(GraphQL[Context, None]):
    # Subscriptions (`web/graphql_ws.py`): graphql-transport-ws only; the legacy graphql-ws
    # protocol is refused (its handler had an auth bypass, CVE-2026-35526).
    graphql_transport_ws_handler_class = TransportWSHandler
    websocket_adapter_class = LimitedWebSocket

    def __init__(self, schema: Any, services: Services,
                 documents: TrustedDocuments | None = None) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            multipart_uploads_enabled=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.allowed_origins,
        )
        self.services = services
        self.documents = documents
        """The trusted documents (`TRUSTED_DOCUMENTS_FILE`), loaded at start; None: none."""
        self.direct = DirectAnswers(schema, settings.compiled_operations_max)
        """Queries answered by their compiled plans without Strawberry's execute
        (`engine/direct.py`)."""

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a trusted document by id is an operation, whatever it accepts (`*/*`
        # from curl or a browser's fetch), not a visit to GraphiQL.
        params = request.query_params
        return super().should_render_graphql_ide(request) and not any(
            key in params for key in ("documentId", "doc_id", "extensions"))

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our own GraphiQL page (`web/graphiql.py`): every asset from this server, no CDN.
        return render_page(self.services.settings)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        if isinstance(request, WebSocket):
            # A WebSocket authenticates in `connection_init` (`web/graphql_ws.py`).
            return Context(request=request, response=Response(),
                           services=self.services,
                           request_id=uuid.uuid4().hex, viewer=Viewer())
        viewer = await authenticate(request, self.services.settings)
        state = _state(request)
        if viewer.user is not None:
            state["user_id"] = str(viewer.user.id)
        return Context(
            request=request,
            response=response,
            services=self.services,
            request_id=state.get("request_id", "-"),
            viewer=viewer,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses a lone surrogate ("\ud800"), which no UTF-8 text can hold: the body gets
        # a 400 instead of reaching argon2 or the database and failing there as INTERNAL.
        return orjson.loads(data)

    async def parse_http_body(self, request: Any) -> OperationRequest:
        """Strawberry's reading of the operation (query string, JSON or multipart body), which
        also reads the id of a trusted document (`web/persisted.py`)."""
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "GET":
            data = self.parse_query_params(request.query_params)
        elif "application/json" in content_type:
            # Strawberry reads `query` out of whatever the body holds: `null`, `1` or `"q"` would
            # fail there as an internal error. An object (or an array, refused as batching) is
            # the only JSON value that starts with `{` (or `[`); the body is read once and kept.
            body = await request.get_body()
            start = body.lstrip(JSON_WHITESPACE)[:1]
            if start and start not in b"{[":
                raise HTTPException(400, NOT_AN_OBJECT)
            data = self.parse_json(body)
        elif content_type == "multipart/form-data":
            data = await self.parse_multipart(request)
        else:
            raise HTTPException(400, "Unsupported content type")
        if isinstance(data, list):
            raise HTTPException(400, BATCHING)
        if not isinstance(data, dict):
            raise HTTPException(400, NOT_AN_OBJECT)
        query, variables, extensions = (data.get(key) for key in
                                        ("query", "variables", "extensions"))
        for key, value, kinds, what in (("query", query, str, "a string"),
                                        ("variables", variables, dict, "an object"),
                                        ("extensions", extensions, dict, "an object")):
            if not isinstance(value, kinds | None):
                raise HTTPException(400, f"The GraphQL operation's `{key}` must be {what} or "
                                         "null, if provided.")
        # Protocol "http": this view offers no streaming transport (SSE, multipart), whose
        # `Accept` header Strawberry would read here.
        operation = OperationRequest(query=query, variables=variables,
                                     operation_name=data.get("operationName"),
                                     extensions=extensions)
        try:
            operation.document = requested_document(self.documents, data)
        except DocumentRefused as refused:
            operation.refusal = refused.error
        if operation.document is not None:
            operation.query = operation.document.text
        return operation

    async def parse_multipart(self, request: Any) -> Any:
        try:
            data = await super().parse_multipart(request)
        except StarletteHTTPException as exc:  # Starlette's own refusal (no boundary...)
            raise HTTPException(400, BAD_MULTIPART) from exc
        if not isinstance(data, dict | list):
            raise HTTPException(400, BAD_MULTIPART)
        return data

    def _validate_batch_request(self, *args: Any, **kwargs: Any) -> None:
        raise HTTPException(400, BATCHING)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        timeout = self.services.settings.execution_timeout
        request_data = kwargs.get("request_data")
        state = _state(kwargs["request"])
        refusal = self._refusal(kwargs["context"], request_data)
        if refusal is not None:  # a request error: nothing ran
            result = ExecutionResult(data=None, errors=[refusal])
            self._count_usage(kwargs["context"], state, result)
            return result
        if isinstance(request_data, OperationRequest) and request_data.document is not None:
            kwargs["context"].document = request_data.document
            state["document_id"] = request_data.document.id
        if request_data is not None and isinstance(request_data.operation_name, str):
            state["operation_name"] = request_data.operation_name[:100]
        request = kwargs["request"]
        if idempotency.HEADER in request.headers and request.method == "POST" and \
                request_data is not None:
            # Only with the header: without it a request costs nothing here.
            state["idempotency"] = await self._claim_key(request, kwargs["context"],
                                                         request_data)
        try:
            # In this task (`wait_for` would run it in a new one: a task per request).
            async with asyncio.timeout(timeout):
                result = await self._execute(**kwargs)
        except TimeoutError:
            # Execution had started, so this is an execution result (`data: null`), not a
            # request error.
            state["timed_out"] = True
            result = ExecutionResult(data=None, errors=[GraphQLError(
                f"The operation took longer than {timeout:g} seconds and was stopped: "
                "ask for fewer objects or split it.",
                extensions={"code": ErrorCode.BAD_USER_INPUT.value, "reason": "TIMEOUT",
                            "limit": timeout})])
        self._count_usage(kwargs["context"], state, result)
        return result

    def _refusal(self, context: Context, request_data: Any) -> GraphQLError | None:
        """Why the request may not run as sent: a document id that cannot be used, or free
        text from a kind of client held to trusted documents (`PERSISTED_ONLY`)."""
        if not isinstance(request_data, OperationRequest):
            return None
        if request_data.refusal is not None:
            return request_data.refusal
        if request_data.document is None and request_data.query is not None:
            return refusal_of_free_text(context.viewer.kind,
                                        self.services.settings.persisted_only)
        return None

    def _count_usage(self, context: Context, state: dict[str, Any],
                     result: ExecutionResult) -> None:
        """Count the request for the usage analytics (`web/counting.py`)."""
        cost = context.cost.requested if context.cost is not None else 0
        count_usage(context, state.get("operation_name"), failed=bool(result.errors),
                    cost=cost)

    async def _claim_key(self, request: Request, context: Context, request_data: Any
                         ) -> idempotency.Claim | None:
        """Claim the request's Idempotency-Key (None: a query, which ignores it), or raise
        `Replay` with the stored response or `IdempotencyRefused`."""
        key = idempotency.checked_key(request.headers[idempotency.HEADER])
        query = request_data.query
        if not isinstance(query, str) or not idempotency.is_single_mutation(
                query, request_data.operation_name):
            return None
        caller, user_id = idempotency.caller_of(context.viewer)
        digest = idempotency.request_hash(query, request_data.variables,
                                          request_data.operation_name)
        stale_after = max(idempotency.MIN_STALE_AFTER,
                          timedelta(seconds=2 * self.services.settings.execution_timeout))
        return await idempotency.claim(caller, user_id, key, digest, stale_after)

    async def _execute(self, *, request_adapter: Any, context: Any, root_value: Any,
                       request_data: Any, **_: Any) -> ExecutionResult:
        """Strawberry's `execute_single`, allowing no subscription over HTTP: one is a request
        error naming the WebSocket (reason SUBSCRIPTION_OVER_HTTP), not a failed execution."""
        method = request_adapter.method
        query, operation_name = request_data.query, request_data.operation_name
        document = getattr(request_data, "document", None)
        known = isinstance(query, str) and isinstance(operation_name, str | None)
        if known and method in HTTP_OPERATIONS:
            answer = await self.direct.answer(context, query,
                                              document.document if document else None,
                                              request_data.variables, operation_name)
            if answer is not None:
                return answer
        try:
            result = await self.schema.execute(
                request_data.query, root_value=root_value,
                variable_values=request_data.variables, context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=HTTP_OPERATIONS.get(method, frozenset()),
                operation_extensions=request_data.extensions)
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                return subscription_over_http()
            raise HTTPException(400, exc.as_http_error_reason(method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc
        if known and document is None and context.plan == "answered" and not result.errors:
            self.direct.remember(query)  # answered by its plan: next time without Strawberry
        return result

    async def process_result(self, request: Request, result: ExecutionResult
                             ) -> GraphQLHTTPResponse:
        request_error = not _state(request).get("timed_out") and is_request_error(result)
        if result.errors:
            # Errors raised while parsing skip the schema's extensions: this pass gives them (and
            # anything else that slipped through) a code, and masks what is internal.
            result.errors = finalize_errors(
                result.errors, request_id=_state(request).get("request_id", "-"),
                hide_suggestions=not self.services.settings.introspection)
            _state(request)["error_codes"] = [
                str((error.extensions or {}).get("code", ErrorCode.INTERNAL.value))
                for error in result.errors]
        response = await super().process_result(request, result)
        cost = _state(request).get("cost")  # set by `engine/cost.py`, for every operation
        if cost is not None:
            extensions = response.get("extensions")
            if extensions is None:
                extensions = response["extensions"] = {}
            extensions["cost"] = cost.as_extension()
        if request_error:
            response.pop("data", None)
            # With the graphql-response media type a request error is a client error (400);
            # plain JSON clients always get 200 (GraphQL over HTTP, 6.4.1 and 6.4.2).
            request.state.graphql_status = 400
        return response

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        started = time.perf_counter()
        try:
            await self._respond(request, scope, receive, send)
        finally:
            state = _state(request)
            cost = state.get("cost")
            record_request(state.get("operation_name"), state.get("operation_type"),
                           time.perf_counter() - started, state.get("error_codes", ()),
                           cost=cost.requested if cost is not None else None)

    async def _respond(self, request: Request, scope: Any, receive: Any, send: Any) -> None:
        response: Response
        try:
            response = await self.run(request)
        except Replay as replay:  # the key's first response, as it was sent
            response = Response(replay.body, status_code=replay.status,
                                media_type=replay.media_type,
                                headers={idempotency.REPLAYED_HEADER: "true"})
            try:
                await response(scope, receive, send)
            finally:
                await request.close()
            return None
        except IdempotencyRefused as refused:
            _state(request)["error_codes"] = [refused.code.value]
            response = JSONResponse(error_body(refused.message, refused.code,
                                               reason=refused.reason),
                                    status_code=refused.status, headers=refused.headers)
        except HTTPException as exc:
            response = self._transport_error(request, exc)
            _state(request)["error_codes"] = [
                STATUS_CODES.get(response.status_code, ErrorCode.BAD_USER_INPUT).value]
        except BodyTooLarge:
            raise  # `BodySizeLimit` answers 413
        except ClientDisconnect:
            # The client went away before its body had arrived (a proxy's timeout, a closed
            # tab, a benchmark tool stopping): nothing ran (the body is read before anything
            # else), and nobody is left to read an answer. Not an error of ours: no INTERNAL,
            # no error report; the access log says 499 (`web/middleware.py`).
            self._client_gone(request)
            await request.close()
            return None
        except Exception as exc:  # anything else is our fault: log it, answer with the id only
            request_id = _state(request).get("request_id", "-")
            log.error("request.internal_error", request_id=request_id,
                      error_type=type(exc).__name__, exc_info=exc)
            report_exception(exc, request_id=request_id)
            _state(request)["error_codes"] = [ErrorCode.INTERNAL.value]
            response = JSONResponse(
                error_body(INTERNAL_MESSAGE, ErrorCode.INTERNAL, requestId=request_id),
                status_code=500)
        if response.headers.get("content-type", "").startswith("application/json"):
            if wants_graphql_response(request):
                response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
                status = getattr(request.state, "graphql_status", None)
                if status and response.status_code == 200:
                    response.status_code = status
            else:
                response.headers["content-type"] = "application/json; charset=utf-8"
        held = _state(request).pop("idempotency", None)
        if held is not None:  # stored before it is sent: a retry after it gets the replay
            await idempotency.complete(held, response.status_code,
                                       response.headers.get("content-type", "application/json"),
                                       bytes(response.body),
                                       self.services.settings.idempotency_response_max)
        try:
            await response(scope, receive, send)
        finally:
            # An upload's parts are temporary files: close them now, not when the collector
            # finds them (nobody else closes a Request this view made).
            await request.close()
        return None

    @staticmethod
    def _client_gone(request: Request) -> None:
        state = _state(request)
        state["client_disconnected"] = True
        count_client_disconnect()
        log.info("request.client_disconnected", request_id=state.get("request_id", "-"),
                 method=request.method, declared_bytes=request.headers.get("content-length"))

    @staticmethod
    def _transport_error(request: Request, exc: HTTPException) -> Response:
        status = exc.status_code
        if request.method == "GET" and "not allowed when using GET" in exc.reason:
            status = 405  # GraphQL over HTTP: a mutation over GET is Method Not Allowed
        code = STATUS_CODES.get(status, ErrorCode.BAD_USER_INPUT)
        response = JSONResponse(error_body(exc.reason, code), status_code=status)
        if status == 405:
            response.headers["Allow"] = "GET, POST"
        return response
