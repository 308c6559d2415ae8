"""``colonnade-healthcheck`` against a real catalog server and a real gateway, as a subprocess.

ECS, Kubernetes exec probes and Docker's HEALTHCHECK only read its exit code (and keep its
output): 0 healthy, 1 not, never 2 (Docker reserves it).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from colonnade.catalog.servicer import SERVICE_NAME
from colonnade.runtime.healthcheck import check_grpc, wait_healthy
from colonnade_tools.devstack.ports import free_port
from tests.conftest import StartCatalog, running_gateway

pytestmark = pytest.mark.integration

HEALTHCHECK = Path(sys.executable).parent / "colonnade-healthcheck"


@dataclass
class Probe:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:
        return f"exit {self.code} after {self.seconds:.2f}s: {self.stdout!r} {self.stderr!r}"


async def probe(*args: str) -> Probe:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(HEALTHCHECK),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return Probe(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


def healthy(result: Probe, *words: str) -> None:
    assert result.code == 0, result
    assert result.stdout.startswith("healthy: ") and result.stdout.count("\n") == 1, result
    assert all(w in result.stdout for w in words), result
    assert result.stderr == "", result


def unhealthy(result: Probe, *words: str) -> None:
    assert result.code == 1, result
    assert result.stderr.startswith("unhealthy: ") and result.stderr.count("\n") == 1, result
    assert all(w in result.stderr for w in words), result
    assert result.stdout == "", result


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


# --- grpc -------------------------------------------------------------------------------------


async def test_grpc_follows_the_catalog_lifecycle(start_catalog: StartCatalog) -> None:
    server, target = await start_catalog(shutdown_delay_seconds=3)
    healthy(await probe("grpc", target), target, "SERVING")
    healthy(await probe("grpc", target, "--service", SERVICE_NAME, "--timeout", "5"), SERVICE_NAME)
    unhealthy(await probe("grpc", target, "--service=no.such.Service"), "NOT_FOUND")

    stopping = asyncio.create_task(server.stop())
    await asyncio.sleep(0.3)  # SIGTERM's first step: NOT_SERVING, while still answering calls
    assert not stopping.done()
    unhealthy(await probe("grpc", target), "NOT_SERVING")
    unhealthy(await probe("grpc", target, "--service", SERVICE_NAME), "NOT_SERVING")
    await stopping
    gone = await probe("grpc", target, "--timeout", "5")
    unhealthy(gone, target, "refused")
    assert gone.seconds < 5, gone


async def test_grpc_nothing_listening_fails_at_once() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = await probe("grpc", target, "--timeout", "10")
    unhealthy(result, target, "refused")
    assert result.seconds < 5, result


async def test_grpc_silent_server_fails_within_the_timeout(silent_port: int) -> None:
    result = await probe("grpc", f"127.0.0.1:{silent_port}", "--timeout", "0.5")
    unhealthy(result, "no answer within 0.5 s")
    assert result.seconds < 3, result


async def test_grpc_probe_of_an_http1_server_says_so(gateway_port: int) -> None:
    unhealthy(await probe("grpc", f"127.0.0.1:{gateway_port}"), "HTTP/1.x", "not a gRPC server")


async def test_the_probe_stays_light(catalog_target: str) -> None:
    """The SERVING path imports neither grpcio, asyncio, protobuf nor hpack (see the module)."""
    code = (
        "import sys\n"
        "from colonnade.runtime.healthcheck import main\n"
        f"assert main(['grpc', {catalog_target!r}]) == 0\n"
        "heavy = ('grpc', 'asyncio', 'google.protobuf', 'hpack', 'colonnade.runtime.settings')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().splitlines()[-1] == "[]", out


async def test_wait_healthy_returns_once_serving_and_times_out_saying_why(
    catalog_target: str,
) -> None:
    why = await asyncio.to_thread(wait_healthy, lambda: check_grpc(catalog_target), 10)
    assert "SERVING" in why
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(TimeoutError, match="refused"):
        await asyncio.to_thread(wait_healthy, lambda: check_grpc(dead), 0.3)


# --- http ---------------------------------------------------------------------------------------


async def test_http_ready_gateway(gateway_port: int) -> None:
    base = f"http://127.0.0.1:{gateway_port}"
    healthy(await probe("http", f"{base}/readyz"), "/readyz", "200")
    healthy(await probe("http", f"{base}/healthz", "--timeout", "1"), "200")
    unhealthy(await probe("http", f"{base}/no/such/path"), "404")


async def test_http_gateway_without_its_backend_is_not_ready() -> None:
    async with running_gateway(f"127.0.0.1:{free_port()}") as port:
        result = await probe("http", f"http://127.0.0.1:{port}/readyz")
        unhealthy(result, "503", "not serving")  # the body says which backend
        healthy(await probe("http", f"http://127.0.0.1:{port}/healthz"), "200")


async def test_http_nothing_listening_and_silent_server(silent_port: int) -> None:
    refused = await probe("http", f"http://127.0.0.1:{free_port()}/readyz")
    unhealthy(refused, "refused")
    assert refused.seconds < 5, refused
    silent = await probe("http", f"http://127.0.0.1:{silent_port}/readyz", "--timeout", "0.5")
    unhealthy(silent, "no answer within 0.5 s")
    assert silent.seconds < 3, silent


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "expected `grpc HOST:PORT`"),
        (("grpc",), "expected `grpc HOST:PORT`"),
        (("tcp", "127.0.0.1:1"), "expected `grpc HOST:PORT`"),
        (("grpc", "localhost"), "expected HOST:PORT"),
        (("grpc", "127.0.0.1:1", "--timeout", "soon"), "--timeout must be a number"),
        (("grpc", "127.0.0.1:1", "--timeout", "0"), "--timeout must be between"),
        (("grpc", "127.0.0.1:1", "--service"), "--service needs a value"),
        (("http", "http://127.0.0.1:1/", "--service", "x"), "unknown option '--service'"),
        (("http", "ftp://example/"), "expected an http:// or https:// URL"),
    ],
)
async def test_usage_errors_exit_1_not_2(args: tuple[str, ...], says: str) -> None:
    result = await probe(*args)
    assert result.code == 1 and says in result.stderr, result


async def test_help() -> None:
    result = await probe("--help")
    assert result.code == 0 and "colonnade-healthcheck grpc HOST:PORT" in result.stdout
