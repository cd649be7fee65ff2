"""authlib has no Starlette integration: this is the thin one it needs.

authlib's server works on an `OAuth2Request` (method, URI, headers, and a payload of the query and
form parameters) and answers with `(status, body, headers)`. `oauth_request()` reads a Starlette
request into the first (the body is read here, in async code, so the synchronous server never
does I/O) and `to_response()` turns the second into a Starlette response.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_000
NUL_REFUSED = "Parameters may not contain the NUL character (U+0000)."


class Payload(OAuth2Payload):
    """The request's parameters: `data` holds each name's first value, `datalist` all of them
    (authlib refuses a repeated `client_id`, `scope`, `code_challenge`... through it)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):
    """An `OAuth2Request` made from already-read parameters.

    authlib's constructor refuses a plain-http URI (`InsecureTransportError`); behind a proxy
    that ends TLS the app itself sees http, so transport security is the deployment's
    (`PUBLIC_URL` is https in production) and the check is not repeated here."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str],
                 query: list[tuple[str, str]], form: list[tuple[str, str]]) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self._args = dict(query)
        self._form = {key: value for key, value in reversed(form)}  # first value wins
        self.payload = Payload([*query, *form])
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def oauth_request(request: Request) -> StarletteOAuth2Request:
    """The authlib request for a Starlette one: the query string, plus the form body of a POST
    (`application/x-www-form-urlencoded`, as RFC 6749 requires; any other body is ignored and the
    server then reports the missing parameters)."""
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if media == FORM and len(body) <= MAX_FORM_BYTES:
            try:
                form = parse_qsl(body.decode(), keep_blank_values=True)
            except UnicodeDecodeError:
                form = []
    query = parse_qsl(request.url.query, keep_blank_values=True)
    # NUL (U+0000) is in no client id, code, token or URI, and PostgreSQL refuses text holding
    # it: refused here, for every endpoint, as RFC 6749's invalid_request (a 400).
    basic = extract_basic_authorization(request.headers)
    if any("\x00" in text for pair in (*query, *form, basic) for text in pair if text):
        raise InvalidRequestError(NUL_REFUSED)
    # Starlette's headers stay as they are: case-insensitive, as authlib reads `Authorization`.
    return StarletteOAuth2Request(request.method, str(request.url), request.headers,
                                  query, form)


def parameters_request(method: str, uri: str, parameters: Mapping[str, str | None]
                       ) -> StarletteOAuth2Request:
    """An authlib request from parameters that did not come over HTTP (the GraphQL consent)."""
    query = [(key, value) for key, value in parameters.items() if value is not None]
    return StarletteOAuth2Request(method, uri, {}, query, [])


def to_response(status: int, body: Any, headers: Iterable[tuple[str, str]]) -> Response:
    """authlib's `(status, body, headers)` as a Starlette response: a dict body as JSON."""
    header_map = dict(headers)
    if isinstance(body, dict):
        header_map.pop("Content-Type", None)
        return JSONResponse(body, status_code=status, headers=header_map)
    return Response(body or b"", status_code=status, headers=header_map)
