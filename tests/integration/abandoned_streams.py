"""Run as a process of its own by ``test_access_log.py``: server streams that clients cancel.

grpc.aio stops iterating a server-streaming handler whose client cancelled without closing
it; the event loop closes the generator later, after grpc freed the call, and the runtime's
interceptor logs the call from that generator's ``finally``. Reading the call there (its
peer) crashed the process with SIGSEGV. Prints the access lines it saw, then ``survived``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from colonnade.runtime.interceptors import ServiceInterceptor


async def numbers(
    _request: bytes, _context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[bytes]:
    for _ in range(1000):
        yield b"n"
        await asyncio.sleep(0.001)


class Peers(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.peers: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.peers.append(getattr(record, "peer", ""))


async def main(rounds: int) -> None:
    seen = Peers()
    access = logging.getLogger("colonnade.access")
    access.addHandler(seen)
    access.setLevel(logging.INFO)
    handler = grpc.method_handlers_generic_handler(
        "t.Streams", {"Numbers": grpc.unary_stream_rpc_method_handler(numbers)}
    )
    server = grpc.aio.server(interceptors=[ServiceInterceptor(access_log=True)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            "/t.Streams/Numbers"
        )
        for _ in range(rounds):
            call = method(b"")
            await call.read()
            call.cancel()
        for _ in range(5):  # let the loop finalise the abandoned generators
            gc.collect()
            await asyncio.sleep(0.1)
    await server.stop(None)
    print(
        f"{len(seen.peers)} access lines, peers {sorted(set(p.split(':')[0] for p in seen.peers))}"
    )
    print("survived")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
