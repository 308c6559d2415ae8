"""The gateway's gRPC client against grpc-go (tests/gateway/interop/echo_server.go).

Every other test of `colonnade.gateway.grpcwire` talks to grpc-core (grpc.aio) or to scripted
h2 servers. Backends written in Go are common, and Go's HTTP/2 stack is the strictest one a
gateway meets, so these tests build a grpc-go server from Debian's packages (offline, GOPATH
mode, as scripts/bench_goref.py builds the reference gateway) and run the client against it:
metadata both ways, errors, large messages in both directions under grpc-go's flow control,
streaming with a slow reader, deadlines and cancellation seen by the server,
MAX_CONCURRENT_STREAMS and a graceful stop (GOAWAY) with a call in flight.

`make test` installs golang-go and golang-google-grpc-dev with the other system packages
(colonnade_tools.devstack.system); without them these tests fail and say what to install.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from colonnade.gateway import grpcwire
from colonnade_tools.devstack.system import GO_GRPC_HINT, find_go_grpc, go_offline_env

REPO = Path(__file__).resolve().parents[3]
SOURCE = Path(__file__).resolve().parents[1] / "interop" / "echo_server.go"


@pytest.fixture(scope="module")
def echo_binary() -> Path:
    """The grpc-go echo server, built under build/interop (Go's build cache is kept there)."""
    go = find_go_grpc()
    if go is None:
        pytest.fail(GO_GRPC_HINT)
    work = REPO / "build" / "interop"
    src = work / "src" / "echoserver"
    src.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, src / "main.go")
    binary = work / "echo-server"
    done = subprocess.run(
        [go, "build", "-o", str(binary), "echoserver"],
        env=go_offline_env(work),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"go build failed:\n{done.stderr}"
    return binary


class GoServer:
    def __init__(self, binary: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("listening "), line
        self.target = line.split()[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:  # read only up to "listening": close it ourselves
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def go_server(echo_binary: Path) -> Iterator[GoServer]:
    server = GoServer(echo_binary)
    yield server
    server.stop()


@pytest.fixture
async def channel(go_server: GoServer) -> AsyncIterator[grpcwire.Channel]:
    ch = grpcwire.Channel(go_server.target, size=2, max_message=4 * 1024 * 1024)
    yield ch
    await ch.close()


async def in_flight(channel: grpcwire.Channel) -> int:
    """Calls running in the server, this one not counted."""
    return int((await channel.unary("/interop.Echo/Counter", b"", (), 2.0)).message)


async def wait_in_flight(channel: grpcwire.Channel, n: int) -> None:
    """Polls the server (2 s at most) until exactly `n` other calls run in it."""
    for _ in range(100):
        if await in_flight(channel) == n:
            return
        await asyncio.sleep(0.02)
    assert await in_flight(channel) == n, "the server's calls do not match the client's"


async def test_unary_with_metadata_both_ways(channel: grpcwire.Channel) -> None:
    binary = bytes(range(256))
    md = grpcwire.encode_metadata(
        [("x-echo", "hello"), ("x-echo-bin", binary), ("x-echo-trailer", "bye")]
    )
    resp = await channel.unary("/interop.Echo/Unary", b"\x00payload\xff", md, 5.0)
    assert resp.message == b"\x00payload\xff"
    initial = dict(resp.initial)
    assert initial[b"x-echo"] == b"hello"
    assert grpcwire.decode_binary(initial[b"x-echo-bin"]) == binary
    assert (b"x-echo-trailer", b"bye") in resp.trailing


async def test_error_status_and_percent_encoded_message(channel: grpcwire.Channel) -> None:
    with pytest.raises(grpcwire.RpcError) as info:
        await channel.unary("/interop.Echo/Fail", b"x", (), 5.0)
    assert info.value.code == 5
    assert info.value.message == "café x not found: 100% gone"
    with pytest.raises(grpcwire.RpcError) as info:
        await channel.unary("/interop.Echo/Nope", b"", (), 5.0)
    assert info.value.code == 12


async def test_large_messages_both_ways(channel: grpcwire.Channel) -> None:
    # 3 MiB each way: far beyond the initial 64 KiB windows, so both sides' flow control runs
    request = os.urandom(3 * 1024 * 1024)
    assert (await channel.unary("/interop.Echo/Unary", request, (), 20.0)).message == request
    big = await channel.unary("/interop.Echo/Big", b"%d" % (3 * 1024 * 1024), (), 20.0)
    assert big.message == b"b" * (3 * 1024 * 1024)
    with pytest.raises(grpcwire.RpcError) as info:
        await channel.unary("/interop.Echo/Big", b"%d" % (5 * 1024 * 1024), (), 20.0)
    assert info.value.code == 8  # over the client's 4 MiB limit
    await wait_in_flight(channel, 0)


async def test_streaming_with_a_slow_reader(channel: grpcwire.Channel) -> None:
    # 3000 KiB: three times the client's stream window, read slowly at first
    call = channel.stream("/interop.Echo/Stream", b"3000", (), 30.0)
    first = await call.read()
    assert first is not None and first.startswith(b"m0.")
    await asyncio.sleep(0.3)  # grpc-go must stop at the window, not fail
    messages = [first]
    while (message := await call.read()) is not None:
        messages.append(message)
    assert len(messages) == 3000
    assert all(m.startswith(b"m%d." % i) and len(m) == 1024 for i, m in enumerate(messages))


@pytest.mark.parametrize("n", [0, 1, 10_000])
async def test_client_stream_of_n_messages(channel: grpcwire.Channel, n: int) -> None:
    call = channel.duplex("/interop.Echo/Collect", (), 30.0)
    for i in range(n):
        assert await call.write(b"m%d" % i)
    await call.done_writing()
    size = sum(len(b"m%d" % i) for i in range(n))
    assert await call.read() == b"%d %d" % (n, size)
    assert await call.read() is None
    await wait_in_flight(channel, 0)


async def test_client_stream_beyond_the_windows(channel: grpcwire.Channel) -> None:
    # 3 MiB in one message and 200 of 16 KiB: grpc-go's windows must open for the writer
    call = channel.duplex("/interop.Echo/Collect", (), 30.0)
    assert await call.write(os.urandom(3 * 1024 * 1024))
    for _ in range(200):
        assert await call.write(b"x" * 16384)
    await call.done_writing()
    assert await call.read() == b"201 %d" % (3 * 1024 * 1024 + 200 * 16384)


async def test_client_stream_error_mid_stream(channel: grpcwire.Channel) -> None:
    call = channel.duplex("/interop.Echo/Collect", (), 10.0)
    assert await call.write(b"a")
    assert await call.write(b"fail")
    with pytest.raises(grpcwire.RpcError) as info:
        await call.read()
    assert (info.value.code, info.value.message) == (10, "failed after 1 messages")
    assert not await call.write(b"late")  # the call is over: nothing more is sent
    await wait_in_flight(channel, 0)


async def test_bidi_interleaved_and_error(channel: grpcwire.Channel) -> None:
    call = channel.duplex("/interop.Echo/Chat", (), 10.0)
    assert await call.read() == b"hello"  # before any request message
    for text in (b"one", b"two"):
        assert await call.write(text)
        assert await call.read() == b"echo:" + text
    await call.done_writing()
    assert await call.read() == b"bye"
    assert await call.read() is None
    call = channel.duplex("/interop.Echo/Chat", (), 10.0)
    assert await call.read() == b"hello"
    assert await call.write(b"fail")
    with pytest.raises(grpcwire.RpcError) as info:
        await call.read()
    assert info.value.code == 10
    await wait_in_flight(channel, 0)


async def test_deadline_reaches_the_server(channel: grpcwire.Channel) -> None:
    started = time.monotonic()
    with pytest.raises(grpcwire.RpcError) as info:
        await channel.unary("/interop.Echo/Sleep", b"", (), 0.3)
    assert info.value.code == 4
    assert 0.25 < time.monotonic() - started < 2.0
    await wait_in_flight(channel, 0)


async def test_cancellation_reaches_the_server(channel: grpcwire.Channel) -> None:
    task = asyncio.ensure_future(channel.unary("/interop.Echo/Sleep", b"", (), None))
    await wait_in_flight(channel, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_in_flight(channel, 0)  # RST_STREAM(CANCEL) ended the handler's context


async def test_max_concurrent_streams(echo_binary: Path) -> None:
    server = GoServer(echo_binary, "--max-streams", "2")
    ch = grpcwire.Channel(server.target, size=1)
    try:
        replies = await asyncio.gather(
            *(ch.unary("/interop.Echo/Big", b"%d" % (100_000 + i), (), 10.0) for i in range(20))
        )
        assert [len(r.message) for r in replies] == [100_000 + i for i in range(20)]
    finally:
        await ch.close()
        server.stop()


async def test_graceful_stop_lets_the_call_in_flight_finish(echo_binary: Path) -> None:
    server = GoServer(echo_binary)
    ch = grpcwire.Channel(server.target, size=1)
    try:
        call = ch.stream("/interop.Echo/Stream", b"2000", (), 30.0)
        assert await call.read() is not None
        await ch.unary("/interop.Echo/Stop", b"bye", (), 5.0)  # GOAWAY, then stop when idle
        await asyncio.sleep(0.3)
        count = 1
        while await call.read() is not None:
            count += 1
        assert count == 2000
        # grpc-go exits once the stream has finished and the client closed the connection
        await asyncio.to_thread(server.proc.wait, 10)
        with pytest.raises(grpcwire.RpcError) as info:
            await ch.unary("/interop.Echo/Unary", b"", (), 2.0)
        assert info.value.code == 14
    finally:
        await ch.close()
        server.stop()
