"""Hostile clients against the gateway's own HTTP/1.1 server (server.py), over real sockets.

* request smuggling: every framing trick a proxy in front and this server could read two ways
  is refused with one 4xx and the connection closed, so the request hidden behind it is never
  answered;
* slow-loris: a head that trickles in, a body that stops, an idle keep-alive connection are
  cut at their timeouts (set short here: `header_timeout` etc. are configurable), while a slow
  but timely request still succeeds;
* header count and size limits (431), also for a field that never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson
import pytest

from tests.gateway.conftest import Stack, start_stack
from tests.hostile import Tally

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
KEEP_ALIVE_TIMEOUT = 0.8
MAX_HEADER_BYTES = 4096
MAX_HEADER_COUNT = 30


@pytest.fixture(scope="module")
async def tight(conformance_set: Path) -> AsyncIterator[Stack]:
    """The conformance stack with short timeouts and small head limits."""
    s, stop = await start_stack(
        conformance_set,
        grpc_client="native",
        header_timeout=HEADER_TIMEOUT,
        body_timeout=BODY_TIMEOUT,
        keep_alive_timeout=KEEP_ALIVE_TIMEOUT,
        max_header_bytes=MAX_HEADER_BYTES,
        max_header_count=MAX_HEADER_COUNT,
    )
    yield s
    await stop()


async def exchange(
    port: int, pieces: bytes | Sequence[bytes], *, pause: float = 0.0, within: float = 5.0
) -> tuple[bytes, float]:
    """Sends `pieces` (`pause` apart) while reading until the server closes (or half-closes);
    returns what it said and when it closed (seconds after connecting). Never closing fails
    the test."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    received = bytearray()
    closed = [0.0]

    async def read_until_closed() -> None:
        with contextlib.suppress(ConnectionError):  # a reset after the answer keeps the answer
            while piece := await reader.read(65536):
                received.extend(piece)
        closed[0] = time.monotonic() - start

    reading = asyncio.create_task(read_until_closed())  # read while sending, as clients do
    try:
        for piece in [pieces] if isinstance(pieces, bytes) else pieces:
            with contextlib.suppress(ConnectionError):
                writer.write(piece)
                await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        await asyncio.wait_for(reading, max(0.1, start + within - time.monotonic()))
        return bytes(received), closed[0]
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def statuses(data: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"^HTTP/1\.1 (\d{3}) ", data, re.MULTILINE)]


def message(data: bytes) -> str:
    body = data.partition(b"\r\n\r\n")[2]
    status = orjson.loads(body)
    assert set(status) == {"code", "message", "details"}, status
    return str(status["message"])


SMUGGLED = b"GET /v1/things/smuggled HTTP/1.1\r\nhost: x\r\n\r\n"
POST = b"POST /v1/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
CHUNKED = POST + b"transfer-encoding: chunked\r\n\r\n"

#: name -> (request whose framing is ambiguous or malformed, words the 4xx message must hold)
SMUGGLING: dict[str, tuple[bytes, str]] = {
    "CL.TE": (
        POST + b"content-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "Content-Length",
    ),
    "TE.CL": (
        POST + b"transfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "Transfer-Encoding",
    ),
    "duplicate Content-Length": (
        POST + b"content-length: 2\r\ncontent-length: 2\r\n\r\n{}",
        "Content-Length",
    ),
    "differing Content-Lengths": (
        POST + b"content-length: 2\r\ncontent-length: 40\r\n\r\n{}",
        "Content-Length",
    ),
    "Content-Length list": (POST + b"content-length: 2, 2\r\n\r\n{}", "Content-Length"),
    "signed Content-Length": (POST + b"content-length: +2\r\n\r\n{}", "Content-Length"),
    "negative Content-Length": (POST + b"content-length: -1\r\n\r\n", "Content-Length"),
    "Content-Length overflow": (
        POST + b"content-length: 184467440737095516160\r\n\r\n",
        "Content-Length",
    ),
    "space before colon": (POST + b"content-length : 2\r\n\r\n{}", "header"),
    "obs-fold": (POST + b"x-folded: a\r\n b\r\ncontent-length: 2\r\n\r\n{}", "whitespace"),
    "obs-fold Transfer-Encoding": (
        POST + b"transfer-encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        "malformed",
    ),
    "bare LF request line": (b"POST /v1/echo HTTP/1.1\nhost: x\ncontent-length: 2\n\n{}", "CRLF"),
    "bare LF header": (POST + b"content-length: 2\nx-a: b\r\n\r\n{}", "CR"),
    "bare CR header": (POST + b"content-length: 2\rx-a: b\r\n\r\n{}", "LF"),
    "chunk size overflow": (CHUNKED + b"fffffffffffffffffff\r\n{}\r\n0\r\n\r\n", "overflow"),
    "chunk size not hex": (CHUNKED + b"2g\r\n{}\r\n0\r\n\r\n", "chunk"),
    "chunk extension with NUL": (CHUNKED + b"2;a\x00=b\r\n{}\r\n0\r\n\r\n", "extension"),
    "chunk extension bare LF": (CHUNKED + b"2;a=b\n{}\r\n0\r\n\r\n", "extension"),
    "chunk extension quote": (CHUNKED + b'2;a="b\r\n{}\r\n0\r\n\r\n', "extension"),
    "chunk data too long": (CHUNKED + b"1\r\n{}\r\n0\r\n\r\n", "chunk"),
    "chunked, gzip": (
        POST + b"transfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding",
    ),
    "Transfer-Encoding twice": (
        POST + b"transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding",
    ),
    "Transfer-Encoding identity": (
        POST + b"transfer-encoding: identity\r\ncontent-length: 2\r\n\r\n{}",
        "Transfer-Encoding",
    ),
    "Transfer-Encoding xchunked": (
        POST + b"transfer-encoding: xchunked\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding",
    ),
    "Transfer-Encoding vertical tab": (
        POST + b"transfer-encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
        "header",
    ),
    "Transfer-Encoding in HTTP/1.0": (
        b"POST /v1/echo HTTP/1.0\r\nconnection: keep-alive\r\n"
        b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.0",
    ),
    "two Host headers": (b"GET /v1/things/1 HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", "Host"),
    "no Host in HTTP/1.1": (b"GET /v1/things/1 HTTP/1.1\r\n\r\n", "Host"),
    "NUL in a header": (b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\nx-a: a\x00b\r\n\r\n", "header"),
    "NUL in the target": (b"GET /v1/things/1\x00 HTTP/1.1\r\nhost: x\r\n\r\n", "url"),
    "raw non-ASCII in the target": (b"GET /v1/things/\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n", "url"),
    "h2c upgrade": (
        b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\nconnection: upgrade, http2-settings\r\n"
        b"upgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
        "upgrade",
    ),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ""),
}


@pytest.mark.parametrize("name", list(SMUGGLING))
async def test_ambiguous_framing_is_refused_and_the_hidden_request_never_answered(
    tight: Stack, name: str
) -> None:
    request, words = SMUGGLING[name]
    data, _ = await exchange(tight.port, request + SMUGGLED)
    assert len(statuses(data)) == 1, data  # one answer: the smuggled request was not served
    status = statuses(data)[0]
    assert 400 <= status < 500 or (name == "HTTP/2 preface" and status == 505), data
    assert b"connection: close" in data.lower()
    assert words.lower() in message(data).lower(), (name, data)


async def test_every_smuggling_case_gets_a_4xx(tight: Stack) -> None:
    """The surface's tally (the parametrized test above checks each case in depth)."""
    tally = Tally("http-smuggling")
    for request, _ in SMUGGLING.values():
        data, _ = await exchange(tight.port, request + SMUGGLED)
        tally.extend(statuses(data) or ["no answer"])
    tally.done(allowed=("505",))


async def test_well_framed_requests_still_work(tight: Stack) -> None:
    """The refusals above are not a server that refuses everything."""
    data, _ = await exchange(
        tight.port,
        CHUNKED.replace(b"host: x", b"host: x\r\nconnection: close")
        + b'6;ext="ok"\r\n{"fInt\r\n5\r\n32":1\r\n1\r\n}\r\n0\r\n\r\n',
    )
    assert statuses(data) == [200], data
    data, _ = await exchange(tight.port, b"GET /v1/things/1 HTTP/1.0\r\n\r\n")
    assert statuses(data) == [200], data


# ------------------------------------------------------------------------------ slow clients


async def test_a_head_that_trickles_in_is_cut_at_the_header_timeout(tight: Stack) -> None:
    tally = Tally("slow-loris")
    head = [b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\n"] + [b"x-a: b\r\n"] * 40
    data, took = await exchange(tight.port, head, pause=0.05)
    assert statuses(data) == [408] and "headers" in message(data), data
    assert HEADER_TIMEOUT <= took < HEADER_TIMEOUT + 1.5
    tally.extend(statuses(data))
    # a client that connects and says nothing: closed without an answer
    data, took = await exchange(tight.port, [])
    assert data == b"" and HEADER_TIMEOUT <= took < HEADER_TIMEOUT + 1.5, data
    # a client that sends one byte and stops
    data, took = await exchange(tight.port, b"G")
    assert statuses(data) == [408] and took < HEADER_TIMEOUT + 1.5, data
    tally.extend(statuses(data))
    # a body that stops half-way
    data, took = await exchange(tight.port, POST + b'content-length: 20\r\n\r\n{"fInt32"')
    assert statuses(data) == [408] and "body" in message(data), data
    assert BODY_TIMEOUT <= took < BODY_TIMEOUT + 1.5
    tally.extend(statuses(data))
    # a chunked body that stops between chunks
    data, took = await exchange(tight.port, CHUNKED + b"2\r\n{}\r\n")
    assert statuses(data) == [408] and took < BODY_TIMEOUT + 1.5, data
    tally.extend(statuses(data))
    tally.done()


async def test_an_idle_keep_alive_connection_is_closed_quietly(tight: Stack) -> None:
    data, took = await exchange(tight.port, b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\n\r\n")
    assert statuses(data) == [200], data  # answered, then nothing more: closed when idle
    assert KEEP_ALIVE_TIMEOUT <= took < KEEP_ALIVE_TIMEOUT + 1.5


async def test_a_slow_but_timely_client_is_served(tight: Stack) -> None:
    """Pieces well inside the timeouts: the deadlines count from the start of the head and
    from the last piece of body, not from each read."""
    body = b'{"fString": "slow"}'
    pieces = [
        POST[:20],
        POST[20:] + b"connection: close\r\n",
        b"content-length: %d\r\n\r\n" % len(body),
        body[:5],
        body[5:10],
        body[10:],
    ]
    data, _ = await exchange(tight.port, pieces, pause=HEADER_TIMEOUT / 8)
    assert statuses(data) == [200], data
    # a body trickling for longer than body_timeout in all, each piece in time
    pieces = [POST + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)]
    pieces += [body[i : i + 2] for i in range(0, len(body), 2)]
    data, took = await exchange(tight.port, pieces, pause=BODY_TIMEOUT / 4)
    assert statuses(data) == [200] and took > BODY_TIMEOUT, data


# ------------------------------------------------------------------------------ head limits


async def test_header_count_and_size_limits(tight: Stack) -> None:
    tally = Tally("header-limits")
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEADER_COUNT))  # + host: one over
    data, _ = await exchange(
        tight.port, b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n"
    )
    assert statuses(data) == [431] and f"more than {MAX_HEADER_COUNT}" in message(data), data
    tally.extend(statuses(data))
    fits = b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEADER_COUNT - 2))
    data, _ = await exchange(
        tight.port,
        b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n" + fits + b"\r\n",
    )
    assert statuses(data) == [200], data
    big = b"x-big: " + b"a" * MAX_HEADER_BYTES + b"\r\n"
    data, _ = await exchange(
        tight.port, b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\n" + big + b"\r\n"
    )
    assert statuses(data) == [431] and str(MAX_HEADER_BYTES) in message(data), data
    tally.extend(statuses(data))
    url = b"/v1/things/" + b"a" * MAX_HEADER_BYTES
    data, _ = await exchange(tight.port, b"GET " + url + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert statuses(data) == [431], data
    tally.extend(statuses(data))
    # a field that never ends: cut long before the client has sent it all
    endless = [b"GET /v1/things/1 HTTP/1.1\r\nhost: x\r\nx-endless: "] + [b"a" * 2048] * 256
    data, _ = await exchange(tight.port, endless, pause=0.002)
    assert statuses(data) == [431], data[:300]
    tally.extend(statuses(data))
    tally.done()


# ------------------------------------------------------------------------------ deep nesting


async def test_deep_nesting_is_400_naming_the_field_end_to_end(tight: Stack) -> None:
    """Nested past protobuf's 100 levels: refused by the gateway naming the field, never a
    message the backend cannot parse (which came back as a 500)."""
    tally = Tally("deep-nesting")
    for field, depth in [("fMessage", 150), ("wValue", 120), ("wStruct", 80), ("mValue", 70)]:
        value: object = {"count": 1} if field == "fMessage" else 1
        for i in range(depth):
            value = {"child": value} if field == "fMessage" else [value] if i % 2 else {"k": value}
        body = orjson.dumps({field: {"k": value} if field in ("wStruct", "mValue") else value})
        request = POST + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        data, _ = await exchange(tight.port, request)
        assert statuses(data) == [400], data[:300]
        assert "nested too deeply" in message(data) and field in message(data), data[:300]
        tally.extend(statuses(data))
    # within the limit, the same shapes go through
    body = orjson.dumps({"fMessage": {"child": {"child": {"count": 3}}}, "wValue": [[{"k": 1}]]})
    request = POST + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    data, _ = await exchange(tight.port, request)
    assert statuses(data) == [200], data[:300]
    tally.done()
