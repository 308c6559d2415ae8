"""A tiny HTTP/1.1 client for the tests: exact status, headers, chunked bodies and trailers.

Written for the tests rather than taken from a library so the tests see the wire as it is
(chunk framing, trailers, `Allow`, keep-alive) and can stream a body line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    trailers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.split(b"\n") if line.strip()]


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()


class Connection:
    """One keep-alive connection to the server under test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def send(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        chunked_body: list[bytes] | None = None,
    ) -> None:
        if self.writer is None:
            await self.open()
        assert self.writer is not None
        hdrs = {"host": f"127.0.0.1:{self.port}"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["content-type"] = "application/json"
        hdrs.update(headers or {})
        lines = [f"{method} {target} HTTP/1.1"]
        if chunked_body is not None:
            hdrs["transfer-encoding"] = "chunked"
        elif body is not None:
            hdrs["content-length"] = str(len(body))
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if chunked_body is not None:
            for c in chunked_body:
                data += b"%x\r\n" % len(c) + c + b"\r\n"
            data += b"0\r\n\r\n"
        elif body is not None:
            data += body
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, method: str = "GET") -> Response:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        status = int(status_line.split()[1])
        headers = await _read_headers(self.reader)
        if status == 100:
            return await self.read(method)
        body = b""
        trailers: dict[str, str] = {}
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        if method == "HEAD" or status in (204, 304):
            pass
        elif chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    trailers = await _read_headers(self.reader)
                    break
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
        return Response(status, headers, body, trailers, chunked)

    async def request(self, method: str, target: str, **kwargs: Any) -> Response:
        await self.send(method, target, **kwargs)
        return await self.read(method)


async def request(port: int, method: str, target: str, **kwargs: Any) -> Response:
    """One request on a fresh connection."""
    conn = Connection(port)
    try:
        return await conn.request(method, target, **kwargs)
    finally:
        await conn.close()
