"""The HTTP/1.1 server (server.py) knows HTTP, not the gateway: its own answers (a request it
cannot parse, an application that crashed) come from the error page it is given."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from colonnade.gateway.responses import status_error_page
from colonnade.gateway.server import ErrorPage, HttpProtocol, drain, plain_error_page
from tests.hostile import FUZZ, Tally


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return False  # a refusal closes at once (sockets linger: tests/gateway/test_hostile_http)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default


async def crash(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("boom")


async def exchange(data: bytes, error_page: ErrorPage, app: Any = crash) -> bytes:
    proto = HttpProtocol(app, asyncio.get_running_loop(), ("127.0.0.1", 80), error_page=error_page)
    transport = FakeTransport()
    proto.connection_made(transport)
    proto.data_received(data)
    for _ in range(5):
        await asyncio.sleep(0)
    proto.connection_lost(None)  # cancels the connection's deadline timer
    return bytes(transport.written)


def split(response: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, dict(line.split(b": ", 1) for line in lines), body


async def test_malformed_request_with_the_default_page_is_plain_text() -> None:
    status, headers, body = split(await exchange(b"NOT HTTP AT ALL\r\n\r\n", plain_error_page))
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    assert headers[b"connection"] == b"close"
    assert body.startswith(b"malformed HTTP request: ")
    assert int(headers[b"content-length"]) == len(body)


async def test_malformed_request_with_the_gateways_page_is_a_status() -> None:
    status, headers, body = split(await exchange(b"NOT HTTP AT ALL\r\n\r\n", status_error_page))
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers[b"content-type"] == b"application/json"
    status_body = orjson.loads(body)
    assert status_body["code"] == 3 and status_body["details"] == []
    assert status_body["message"].startswith("malformed HTTP request: ")


async def test_an_application_that_raises_gets_a_500_from_the_page() -> None:
    request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    status, headers, body = split(await exchange(request, status_error_page))
    assert status == b"HTTP/1.1 500 Internal Server Error"
    assert headers[b"content-type"] == b"application/json"
    assert orjson.loads(body) == {"code": 13, "message": "internal error", "details": []}
    status, headers, body = split(await exchange(request, plain_error_page))
    assert status == b"HTTP/1.1 500 Internal Server Error"
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    assert body == b"internal error\n"


async def test_upgrades_are_refused() -> None:
    request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
    status, _, body = split(await exchange(request, plain_error_page))
    assert status == b"HTTP/1.1 400 Bad Request" and body == b"upgrades are not supported\n"


# ------------------------------------------------------------------------------ parser fuzzing


async def read_all_then_ok(scope: Any, receive: Any, send: Any) -> None:
    """An application that reads the whole body and answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message["body"])
        if not message["more_body"]:
            break
    body = b"%d" % size
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _hostile_requests() -> st.SearchStrategy[list[bytes]]:
    """Requests built from the grammar with hostile parts mixed in, cut into pieces."""
    # mostly well-formed, so the hostile part is one or two pieces of an otherwise good request
    eol = st.sampled_from([b"\r\n"] * 40 + [b"\n", b"\r", b"\r\r\n", b"\n\r"])
    method = st.sampled_from(
        [b"GET", b"POST"] * 8
        + [b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PRI", b"CONNECT", b"get", b"G T", b""]
    )
    target = st.one_of(
        st.sampled_from([b"/", b"/v1/things/1", b"*", b"http://h/x?y", b"/a%00b", b"/%ff", b"//x"]),
        st.binary(max_size=12).map(lambda b: b"/" + b),
    )
    version = st.sampled_from(
        [b"HTTP/1.1"] * 30 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1", b"HTTP/1.1 ", b""]
    )
    name = st.sampled_from(
        [b"x-a"] * 6
        + [b"content-length"] * 3
        + [b"transfer-encoding"] * 3
        + [
            b"host",
            b"expect",
            b"te",
            b"connection",
            b"upgrade",
            b"Content-Length ",
            b"",
            b"x\x00",
            b"\xff",
        ]
    )
    value = st.one_of(
        st.sampled_from(
            [
                b"x",
                b"0",
                b"3",
                b"2, 2",
                b"-1",
                b"99999999999999999999",
                b"chunked",
                b" chunked",
                b"chunked, gzip",
                b"identity",
                b"100-continue",
                b"trailers",
                b"close",
                b"keep-alive",
                b"h2c",
                b"a\r\n b",
                b"a\x00b",
                b"\x7f",
                b"\xff\xfe",
            ]
        ),
        st.text(alphabet="abcXYZ019 ,;=-", max_size=8).map(str.encode),
        st.text(alphabet="abcXYZ019 ,;=-", max_size=8).map(str.encode),
        st.binary(max_size=6),
    )
    body = st.one_of(
        st.sampled_from(
            [
                b"",
                b"abc",
                b"0\r\n\r\n",
                b"3\r\nabc\r\n0\r\n\r\n",
                b"ffffffffffffffffff\r\n",
                b"1;a\x00=b\r\na\r\n0\r\n\r\n",
                b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
            ]
        ),
        st.binary(max_size=16),
    )

    @st.composite
    def build(draw: st.DrawFn) -> list[bytes]:
        end = draw(eol)
        line = draw(method) + b" " + draw(target) + b" " + draw(version) + end
        fields = draw(st.lists(st.tuples(name, value), max_size=4))
        if draw(st.integers(0, 9)):
            fields.insert(0, (b"host", b"x"))
        head = line + b"".join(n + b": " + v + draw(eol) for n, v in fields) + draw(eol)
        data = head + draw(body)
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

    return build()


_FUZZ_TALLY = Tally("http-parser-fuzz")


@settings(FUZZ, max_examples=400)
@given(pieces=_hostile_requests())
def test_the_parser_answers_anything_with_a_response_or_a_clear_4xx(pieces: list[bytes]) -> None:
    """Whatever bytes arrive, in whatever pieces: no exception escapes the protocol, every
    answer is a 2xx or a 4xx (505 for an HTTP version it does not speak), never a 5xx, and
    after a 4xx the connection is closed."""

    async def run() -> tuple[bytes, bool]:
        proto = HttpProtocol(read_all_then_ok, asyncio.get_running_loop(), ("127.0.0.1", 80))
        transport = FakeTransport()
        proto.connection_made(transport)
        for piece in pieces:
            if not transport.closing:
                proto.data_received(piece)
            for _ in range(3):
                await asyncio.sleep(0)
        proto.connection_lost(None)
        return bytes(transport.written), transport.closing

    written, closing = asyncio.run(run())
    found = re.findall(rb"HTTP/1\.1 (\d{3}) ", written)
    codes = [int(c) for c in found if c != b"100"]  # 100 Continue precedes the answer
    for code in codes:
        _FUZZ_TALLY.add(code)
        assert 200 <= code < 300 or 400 <= code < 500 or code == 505, written
    if any(c >= 400 for c in codes):
        assert closing and codes[-1] >= 400, written
    if not codes:
        _FUZZ_TALLY.add("incomplete")


def test_parser_fuzz_tally() -> None:
    """Reports the fuzz test's answers (runs after it: pytest keeps a file's order)."""
    _FUZZ_TALLY.done_if_tried(allowed=("2", "505", "incomplete"))


class ClosingTransport(FakeTransport):
    """Tells its protocol the connection is gone when closed, as asyncio does."""

    def __init__(self, proto: HttpProtocol) -> None:
        super().__init__()
        self.proto = proto

    def close(self) -> None:
        if not self.closing:
            super().close()
            self.proto.connection_lost(None)


class FakeServer:
    closed = False

    def close(self) -> None:
        self.closed = True


def connected(app: Any, connections: set[HttpProtocol]) -> tuple[HttpProtocol, ClosingTransport]:
    proto = HttpProtocol(
        app, asyncio.get_running_loop(), ("127.0.0.1", 80), connections=connections
    )
    transport = ClosingTransport(proto)
    proto.connection_made(transport)
    return proto, transport


async def test_drain_closes_idle_connections_and_lets_a_request_being_served_finish() -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    connections: set[HttpProtocol] = set()
    busy, busy_transport = connected(slow, connections)
    busy.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    _idle, idle_transport = connected(slow, connections)
    server = FakeServer()
    draining = asyncio.ensure_future(drain(server, connections, 5))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert server.closed and idle_transport.closing
    assert not busy_transport.closing and not draining.done()
    release.set()
    assert await draining == 0
    status, headers, body = split(bytes(busy_transport.written))
    assert (status, headers[b"connection"], body) == (b"HTTP/1.1 200 OK", b"close", b"ok")
    assert busy_transport.closing and not connections


async def test_drain_cuts_what_is_still_busy_after_the_grace() -> None:
    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    connections: set[HttpProtocol] = set()
    busy, transport = connected(stuck, connections)
    busy.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert await drain(FakeServer(), connections, 0.2) == 1  # type: ignore[arg-type]
    assert transport.closing and not connections
    if busy.cycle is not None and busy.cycle.task is not None:
        busy.cycle.task.cancel()
