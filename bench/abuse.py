"""A batch of abusive requests, each with the clean answer it must get: what an attacker sends to
make a server process grow (huge variables, deep and wide queries, oversized and streamed bodies,
compressed bodies, decompression-bomb and heavy images, huge CSV imports, oversized form posts).

`tests/http/test_memory_bound.py` sends a few thousand of them to a server process of its own
and checks its resident memory afterwards; `bench/soak.py` sends the batch once in the middle of
the soak, against every API process of the fleet. Everything is built in memory by this module
(no file is read); the images are made with zlib alone, so even a "20,000 x 20,000 pixels" bomb
costs the sender a few hundred kilobytes.

    batch = AbuseBatch(token=owner_token, org_id=org_global_id, form_public_id=None)
    async with httpx.AsyncClient(base_url=url) as http:
        tally = await batch.run(http, rounds=10, concurrency=8)
    assert not tally.unexpected, tally.unexpected[:5]
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import random
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

CREATE_LEAD = ("mutation Abuse($input: CreateLeadInput!) { createLead(input: $input) "
               "{ lead { id } } }")
UPLOAD_AVATAR = ("mutation Upload($input: UploadAvatarInput!) { uploadAvatar(input: $input) "
                 "{ user { id avatarUrl } } }")
IMPORT_LEADS = ("mutation Import($input: ImportLeadsInput!) { importLeads(input: $input) "
                "{ importResult { imported errorCount } } }")
MB = 1024 * 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


@functools.cache
def png(width: int, height: int, *, channels: int = 1) -> bytes:
    """A valid PNG of `width` x `height` black pixels (8-bit grey, or RGBA with `channels=4`),
    compressed row by row: a 20,000 x 20,000 one (400 MB of pixels) is about 400 kB."""
    colour = {1: 0, 4: 6}[channels]
    head = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
    packer = zlib.compressobj(9)
    row = bytes(1 + width * channels)  # filter byte 0, then the row's zero bytes
    body = bytearray()
    for _ in range(height):
        body += packer.compress(row)
    body += packer.flush()
    return b"\x89PNG\r\n\x1a\n" + head + _chunk(b"IDAT", bytes(body)) + _chunk(b"IEND", b"")


@functools.cache
def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims `width` x `height` pixels."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height, width
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@functools.cache
def gzip_bomb() -> bytes:
    """64 MB of JSON-ish spaces compressed to about 64 kB, sent as `Content-Encoding: gzip`."""
    return gzip.compress(b'{"query": "{ __typename }", "x": "' + b" " * (64 * MB) + b'"}', 9)


@functools.cache
def csv_rows(rows: int, width: int = 60) -> bytes:
    """A CSV import of `rows` valid leads, each with a `width`-character company."""
    lines = ["name,email,company"]
    lines += [f"Lead {n},lead{n}@import.test,{'c' * width}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Expect:
    """The clean answer: an HTTP status and, for a GraphQL error, its `extensions.code`
    (None: the body must hold no errors)."""

    status: int
    code: str | None = None


@dataclass
class Tally:
    """What the batch got: answers per case, and every answer that was not the expected one."""

    sent: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


Send = Callable[[httpx.AsyncClient], Coroutine[Any, Any, httpx.Response]]


@dataclass
class Case:
    name: str
    send: Send
    expect: Expect
    weight: int
    """How many times per round: cheap refusals often, heavy work a few times."""
    heavy: bool = False
    """Megabytes sent or decoded: repeated only in the first `heavy_rounds` rounds."""


class AbuseBatch:
    """The cases, for one organization (an OWNER's or ADMIN's token) and optionally one lead form
    (its public id) to post oversized submissions to."""

    def __init__(self, *, token: str, org_id: str, form_public_id: str | None = None) -> None:
        self.token = token
        self.org_id = org_id
        self.form_public_id = form_public_id
        self.auth = {"authorization": f"Bearer {token}"}

    # Ways of sending.

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> Send:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        return self.raw(body)

    def raw(self, body: bytes, **headers: str) -> Send:
        sent = {"content-type": "application/json", **self.auth, **headers}

        async def send(http: httpx.AsyncClient) -> httpx.Response:
            return await http.post("/graphql", content=body, headers=sent)
        return send

    def streamed(self, size: int) -> Send:
        """A body sent in chunks without Content-Length (chunked transfer encoding)."""
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"query": "{ __typename }", "x": "'
            for _ in range(size // 65536):
                yield b"a" * 65536
            yield b'"}'

        async def send(http: httpx.AsyncClient) -> httpx.Response:
            return await http.post("/graphql", content=chunks(),
                                   headers={"content-type": "application/json", **self.auth})
        return send

    def multipart(self, query: str, data: bytes, filename: str, content_type: str,
                  extra: dict[str, Any] | None = None) -> Send:
        variables = {"input": {"file": None, **(extra or {})}}
        files: dict[str, Any] = {
            "operations": (None, json.dumps({"query": query, "variables": variables})),
            "map": (None, json.dumps({"0": ["variables.input.file"]})),
            "0": (filename, data, content_type)}

        async def send(http: httpx.AsyncClient) -> httpx.Response:
            return await http.post("/graphql", files=files, headers=self.auth)
        return send

    def form_post(self, body: bytes) -> Send:
        async def send(http: httpx.AsyncClient) -> httpx.Response:
            return await http.post(f"/f/{self.form_public_id}", content=body, headers={
                "content-type": "application/json", "origin": "https://www.soak.test"})
        return send

    # The cases.

    def cases(self) -> list[Case]:
        bad, large = Expect(200, "BAD_USER_INPUT"), Expect(413, "BAD_USER_INPUT")
        ok = Expect(200)
        deep = "{ me " + "{ organizations { nodes " * 40 + "{ id }" + " } }" * 40 + " }"
        aliases = "{ " + " ".join(f"a{n}: __typename" for n in range(300)) + " }"
        tokens = "{ " + " ".join("__typename" for _ in range(8_000)) + " }"
        lead = {"organizationId": self.org_id}
        cases = [
            Case("huge_variable_string", self.gql(CREATE_LEAD, {"input": {
                **lead, "name": "x" * 95_000}}), bad, 40),
            Case("huge_variable_list", self.gql(CREATE_LEAD, {"input": {
                **lead, "name": "Tags", "tags": ["t"] * 18_000}}), bad, 40),
            Case("many_unknown_variables", self.gql("{ __typename }", {
                f"v{n}": n for n in range(5_000)}), ok, 20),
            Case("deep_query", self.gql(deep), bad, 40),
            Case("many_aliases", self.gql(aliases), bad, 40),
            Case("many_tokens", self.gql(tokens), bad, 20),
            Case("oversized_body", self.raw(b'{"query": "' + b"a" * (2 * MB) + b'"}'),
                 large, 20),
            Case("streamed_oversized_body", self.streamed(8 * MB), large, 10, heavy=True),
            Case("gzip_bomb_body", self.raw(gzip_bomb(), **{"content-encoding": "gzip"}),
                 Expect(400, "BAD_USER_INPUT"), 20),
            Case("png_bomb_avatar", self.multipart(UPLOAD_AVATAR, png(20_000, 20_000),
                                                   "bomb.png", "image/png"), bad, 10),
            Case("jpeg_bomb_avatar", self.multipart(UPLOAD_AVATAR, jpeg_claiming(60_000, 60_000),
                                                    "bomb.jpg", "image/jpeg"), bad, 10),
            Case("garbage_avatar", self.multipart(UPLOAD_AVATAR, random.randbytes(200_000),
                                                  "x.png", "image/png"), bad, 10),
            Case("oversized_avatar", self.multipart(UPLOAD_AVATAR, bytes(7 * MB), "big.png",
                                                    "image/png"), large, 5, heavy=True),
            # Legal but as heavy as allowed: 15.9 megapixels of RGBA, decoded and re-encoded.
            Case("heaviest_accepted_avatar", self.multipart(
                UPLOAD_AVATAR, png(3_990, 3_990, channels=4), "big.png", "image/png"), ok, 1,
                heavy=True),
            Case("import_too_many_rows", self.multipart(
                IMPORT_LEADS, b"name\n" + b"a\n" * 10_001, "leads.csv", "text/csv",
                {"organizationId": self.org_id, "dryRun": True}), bad, 5),
            Case("import_huge_cell", self.multipart(
                IMPORT_LEADS, b'name\n"' + b"a" * (5 * MB) + b'"\n', "leads.csv", "text/csv",
                {"organizationId": self.org_id, "dryRun": True}), bad, 5, heavy=True),
            # Legal but as large as allowed: 10,000 valid rows, checked (a dry run writes nothing).
            Case("largest_import_dry_run", self.multipart(
                IMPORT_LEADS, csv_rows(10_000), "leads.csv", "text/csv",
                {"organizationId": self.org_id, "dryRun": True}), ok, 1, heavy=True),
        ]
        if self.form_public_id:
            cases.append(Case("oversized_form_post", self.form_post(
                json.dumps({"name": "x" * 200_000}).encode()), Expect(413, "BAD_USER_INPUT"), 20))
        return cases

    @staticmethod
    def check(case: Case, response: httpx.Response) -> str | None:
        """None when `response` is the clean answer `case` expects, else what it was."""
        expect = case.expect
        try:
            body = response.json()
        except ValueError:
            return f"{case.name}: {response.status_code}, not JSON: {response.text[:200]}"
        errors = body.get("errors") if isinstance(body, dict) else None
        code = (errors[0].get("extensions") or {}).get("code") if errors else None
        if response.status_code != expect.status or code != expect.code:
            return (f"{case.name}: {response.status_code} {code}, expected {expect.status} "
                    f"{expect.code}: {response.text[:300]}")
        return None

    async def run(self, http: httpx.AsyncClient, *, rounds: int = 1, concurrency: int = 8,
                  heavy_rounds: int | None = None, tally: Tally | None = None) -> Tally:
        """Every case its weight times per round (a heavy one only in the first `heavy_rounds`
        rounds; default: all), shuffled, `concurrency` at a time."""
        tally = tally or Tally()
        cases = self.cases()
        heavy_rounds = rounds if heavy_rounds is None else heavy_rounds
        queue = [case for n in range(rounds) for case in cases for _ in range(case.weight)
                 if not case.heavy or n < heavy_rounds]
        random.shuffle(queue)
        pending = iter(queue)

        async def worker() -> None:
            for case in pending:
                try:
                    response = await case.send(http)
                except httpx.HTTPError as exc:
                    tally.unexpected.append(f"{case.name}: {type(exc).__name__}: {exc}")
                    continue
                tally.sent[case.name] += 1
                problem = self.check(case, response)
                if problem:
                    tally.unexpected.append(problem)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tally
