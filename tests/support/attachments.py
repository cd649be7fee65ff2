"""Helpers for the attachment tests: a GraphQL multipart request carrying a support message's
files (`variables.input.attachments.<n>`), files of each kind, and a download."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
from PIL import Image

OPEN_WITH_FILES = """mutation($input: OpenSupportTicketInput!) {
  openSupportTicket(input: $input) { ticket { id subject messages(first: 5) { nodes {
    id body attachments { id filename contentType size sha256 downloadUrl } } } } } }"""
REPLY_WITH_FILES = """mutation($input: ReplyToTicketInput!) {
  replyToTicket(input: $input) { message { id body
    attachments { id filename contentType size downloadUrl } } } }"""

PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + \
    b"PE\x00\x00" + b"\x00" * 200
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def send(http: httpx.AsyncClient, query: str, variables_input: dict[str, Any],
               files: list[tuple[str, bytes, str]], *, token: str | None,
               expect_status: int | None = 200) -> dict[str, Any]:
    """POST a multipart request whose parts 0..n-1 are `files` (name, bytes, claimed type),
    mapped to `variables.input.attachments.<n>`."""
    variables_input = {**variables_input, "attachments": [None] * len(files)}
    operations = {"query": query, "variables": {"input": variables_input}}
    file_map = {str(n): [f"variables.input.attachments.{n}"] for n in range(len(files))}
    parts: dict[str, Any] = {"operations": (None, json.dumps(operations)),
                             "map": (None, json.dumps(file_map))}
    for n, (name, data, content_type) in enumerate(files):
        parts[str(n)] = (name, data, content_type)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", files=parts, headers=headers)
    if expect_status is not None:
        assert response.status_code == expect_status, response.text
    return response.json()


async def download(http: httpx.AsyncClient, url: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await http.get(url.removeprefix("http://testserver"), headers=headers)
