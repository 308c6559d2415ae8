"""``make run`` end to end: the same start-up the command uses (``python -m
colonnade_tools.devstack``), in a temporary data folder on free ports, then the whole product
over REST and gRPC, the commands the summary prints, ``make status``, a taken port, a stop
by SIGTERM that leaves no process behind, and a second start that finds the data again."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade_tools.devstack.ports import free_port

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
PORT_VARIABLES = (
    "POSTGRES_PORT",
    "MEMCACHED_PORT",
    "CATALOG_PORT",
    "ORDERS_PORT",
    "GATEWAY_PORT",
    "CATALOG_ADMIN_PORT",
    "ORDERS_ADMIN_PORT",
)


@dataclass
class Stack:
    """One ``make run`` process and what it printed."""

    state: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    token: str = ""
    banner: str = ""
    descendants: set[int] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    def progress(self) -> str:
        return self.err.read_text(errors="replace")


def stack_env(state: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
    env.pop("COLONNADE_RUN_STARTED", None)
    env.update({name: str(port) for name, port in ports.items()})
    env["COLONNADE_STATE_DIR"] = str(state)
    return env


def start(
    state: Path,
    ports: dict[str, int] | None = None,
    timeout: float = 90,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Start the stack (``extra_env`` added to its environment) and wait for its summary (or
    its exit)."""
    ports = ports or {name: free_port() for name in PORT_VARIABLES}
    state.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]  # a second start on the same folder keeps the first's output
    out, err = state.parent / f"{state.name}-{run}.out", state.parent / f"{state.name}-{run}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "colonnade_tools.devstack"],
            env=stack_env(state, ports) | (extra_env or {}),
            stdout=stdout,
            stderr=stderr,
            cwd=ROOT,
        )
    stack = Stack(state, ports, process, out, err)
    deadline = time.monotonic() + timeout
    while "ready in" not in stack.progress():
        if process.poll() is not None:
            return stack
        assert time.monotonic() < deadline, stack.progress()
        time.sleep(0.1)
    stack.banner = out.read_text()
    match = re.search(r"export COLONNADE_TOKEN=(\S+)", stack.banner)
    assert match, stack.banner
    stack.token = match.group(1)
    return stack


def process_tree(root: int) -> set[int]:
    """``root``'s descendants (children, their children…), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(stack: Stack, timeout: float = 60) -> int:
    """SIGTERM, as Ctrl-C or `kill` would; the exit code."""
    stack.descendants = process_tree(stack.process.pid)
    stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout)


@contextlib.contextmanager
def stopped_after(stack: Stack) -> Iterator[Stack]:
    """``stack``, stopped on the way out if it still runs: a failing test leaves no stack
    behind (its processes would outlive the test and its Popen warn in a later one)."""
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stop(stack)


def rest(
    stack: Stack, method: str, path: str, body: Any = None, bearer: bool = True, **headers: str
) -> tuple[int, Any]:
    """A JSON call to the gateway, with the stack's token unless ``bearer`` is False;
    ``headers`` (``x_api_key=…``) are added, or replace the token's."""
    request = urllib.request.Request(
        f"{stack.base}/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            **({"authorization": f"Bearer {stack.token}"} if bearer else {}),
            **{name.replace("_", "-"): value for name, value in headers.items()},
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def run_shell(stack: Stack, script: str) -> str:
    """A command from the summary, pasted into bash in the checkout."""
    env = {**os.environ, "COLONNADE_TOKEN": stack.token}
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def pasted_commands(banner: str) -> list[str]:
    """The summary's shell commands (``curl …``, ``export …``), each with its continuation
    lines, as a person copies them."""
    commands: list[str] = []
    lines = iter(banner.splitlines())
    for line in lines:
        if line.startswith(("    curl ", "    export ")):
            command = line.strip()
            while command.endswith("\\"):
                command += "\n" + next(lines)
            commands.append(command)
    return commands


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start(tmp_path_factory.mktemp("devstack") / "state")
    assert stack.process.poll() is None, stack.progress()
    yield stack
    assert stop(stack) == 0, stack.progress()


def test_progress_lines_and_the_summary(running: Stack) -> None:
    progress = running.progress()
    for line in (
        "PostgreSQL: starting on",
        "PostgreSQL: ready (",
        "memcached: ready (",
        "data: migrated (",
        "data: 4 seed products created",
        "catalog: ready on",
        "orders: ready on",
        "gateway: ready on",
    ):
        assert line in progress, progress
    took = re.search(r"ready in (\d+\.\d) s since make run", progress)
    assert took, progress
    banner = running.banner
    ports = running.ports
    for address in (
        f"127.0.0.1:{ports['CATALOG_PORT']}",
        f"127.0.0.1:{ports['ORDERS_PORT']}",
        f"{running.base}/docs",
        f"{running.base}/openapi.json",
        f"{running.base}/status",
        f"{running.base}/#token={running.token}",
    ):
        assert address in banner, banner
    assert re.search(r"x-api-key: \S+", banner), banner


def test_the_printed_commands_work(running: Stack) -> None:
    """The summary's curl and gRPC examples, pasted as they are: the order examples place
    orders, and the REST one twice with its request id places one."""
    banner = running.banner
    grpc_example = re.search(r"^\.venv/bin/python - <<'EOF'\n.*?^EOF$", banner, re.S | re.M)
    assert grpc_example, banner
    assert "state: CONFIRMED" in run_shell(running, grpc_example.group(0))
    commands = pasted_commands(banner)
    order_command = next(c for c in commands if "/v1/orders?requestId" in c)
    request_id = next(c for c in commands if c.startswith("export REQUEST_ID"))
    script = request_id + "\n" + order_command
    first, second = json.loads(run_shell(running, script)), json.loads(run_shell(running, script))
    assert first["state"] == "CONFIRMED" and first["name"] == second["name"]
    products = json.loads(
        run_shell(running, next(c for c in commands if c.endswith("/v1/products")))
    )
    assert {"products/fountain-pen", "products/desk-lamp"} <= {
        p["name"] for p in products["products"]
    }


def test_scenario_over_rest_and_grpc(running: Stack) -> None:
    unique = uuid.uuid4().hex[:8]
    for product_id, stock in ((f"teapot-{unique}", 3), (f"cups-{unique}", 10)):
        body = {
            "sku": product_id.upper(),
            "title": product_id,
            "price": {"currencyCode": "EUR", "units": "18"},
            "stock": str(stock),
        }
        status, created = rest(running, "POST", f"v1/products?productId={product_id}", body)
        assert status == 201, created
    order = {
        "currencyCode": "EUR",
        "lineItems": [
            {"product": f"products/teapot-{unique}", "quantity": "2"},
            {"product": f"products/cups-{unique}", "quantity": "1"},
        ],
    }
    request_id = str(uuid.uuid4())
    status, placed = rest(running, "POST", f"v1/orders?requestId={request_id}", order)
    assert status == 201 and placed["state"] == "CONFIRMED", placed
    status, retried = rest(running, "POST", f"v1/orders?requestId={request_id}", order)
    assert (status, retried["name"]) == (201, placed["name"])  # the idempotent retry
    assert rest(running, "GET", f"v1/products/teapot-{unique}")[1]["stock"] == "1"

    # The same order over gRPC, then watched over SSE while it is cancelled.
    metadata = [("authorization", f"Bearer {running.token}")]
    with grpc.insecure_channel(f"127.0.0.1:{running.ports['ORDERS_PORT']}") as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        got = stub.GetOrder(orders_pb2.GetOrderRequest(name=placed["name"]), metadata=metadata)
        assert got.state == orders_pb2.Order.CONFIRMED
        events: list[dict[str, Any]] = []

        def watch() -> None:
            request = urllib.request.Request(
                f"{running.base}/v1/{placed['name']}:watch",
                headers={"accept": "text/event-stream", "authorization": f"Bearer {running.token}"},
            )
            with urllib.request.urlopen(request, timeout=30) as stream:
                for line in stream:
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))

        watcher = threading.Thread(target=watch)
        watcher.start()
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        cancelled = stub.CancelOrder(
            orders_pb2.CancelOrderRequest(name=placed["name"]), metadata=metadata
        )
        assert cancelled.state == orders_pb2.Order.CANCELLED
        watcher.join(15)
        assert not watcher.is_alive()  # the stream ends with the final state
    assert [e["order"]["state"] for e in events] == ["CONFIRMED", "CANCELLED"]
    # Cancelled over gRPC, not through the gateway: its response cache (30 s for product
    # reads) does not know; no-cache asks the catalog.
    teapot = f"v1/products/teapot-{unique}"
    assert rest(running, "GET", teapot, cache_control="no-cache")[1]["stock"] == "3"


@pytest.mark.asyncio(loop_scope="session")
async def test_the_shop_under_make_run(running: Stack) -> None:
    """The signed-in link the summary prints, with every policy on (the response cache too):
    an order placed and cancelled in the browser, and the product page's stock follows."""
    from tests.e2e.test_web_ui import browser_page

    async with browser_page(f"{running.base}/#token={running.token}") as page:
        await page.wait_for_selector("#who:has-text('signed in as dev')")
        await page.goto(f"{running.base}/#/products/design-book")
        stock = int(await page.locator("#product-stock").inner_text())
        await page.click("#product-add")
        await page.goto(f"{running.base}/#/cart")
        await page.click("#place-order")
        await page.wait_for_selector("#order-state:text-is('Confirmed')")
        await page.goto(f"{running.base}/#/products/design-book")
        await page.wait_for_selector(f"#product-stock:text-is('{stock - 1}')")
        await page.go_back()
        await page.click("#order-cancel")
        await page.wait_for_selector("#order-live:has-text('final')")
        await page.goto(f"{running.base}/#/products/design-book")
        await page.wait_for_selector(f"#product-stock:text-is('{stock}')")


def test_make_status_shows_each_component(running: Stack) -> None:
    env = {**os.environ, "COLONNADE_STATE_DIR": str(running.state)}
    result = subprocess.run(
        [sys.executable, "-m", "colonnade_tools.devstack.status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Colonnade (pid {running.process.pid}, ready, ready in ")
    rows = {line.split()[1]: line for line in lines[1:]}
    assert set(rows) == {"PostgreSQL", "memcached", "catalog", "orders", "gateway"}
    assert all(row.split()[0] == "ok" for row in rows.values()), result.stdout
    assert f"127.0.0.1:{running.ports['ORDERS_PORT']}  SERVING" in rows["orders"]
    assert f"{running.base}/readyz  200 OK" in rows["gateway"]


def test_a_second_stack_on_the_same_data_is_refused(running: Stack) -> None:
    ports = {name: free_port() for name in PORT_VARIABLES}
    with stopped_after(start(running.state, ports, timeout=30)) as second:
        assert second.process.wait(30) != 0
        assert f"Colonnade is already running on {running.state} (pid {running.process.pid})" in (
            second.progress()
        )


def test_a_taken_port_names_its_holder(running: Stack, tmp_path: Path) -> None:
    ports = {name: free_port() for name in PORT_VARIABLES}
    ports["GATEWAY_PORT"] = running.ports["GATEWAY_PORT"]  # the running gateway holds it
    with stopped_after(start(tmp_path / "state", ports, timeout=30)) as other:
        assert other.process.wait(30) != 0
    gateway_pid = next(
        pid
        for pid in process_tree(running.process.pid)
        if "colonnade.gateway" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    )
    expected = (
        f"the gateway's port {ports['GATEWAY_PORT']} (GATEWAY_PORT={ports['GATEWAY_PORT']}) "
        f"is held by python"
    )
    assert expected in other.progress(), other.progress()
    assert f"(pid {gateway_pid}:" in other.progress()
    assert not (tmp_path / "state" / "pgdata").exists()  # refused before starting anything


def test_sigterm_leaves_nothing_and_a_second_start_reuses_the_data(tmp_path: Path) -> None:
    first = start(tmp_path / "state")
    assert first.process.poll() is None, first.progress()
    order = {
        "currencyCode": "EUR",
        "lineItems": [{"product": "products/desk-lamp", "quantity": "1"}],
    }
    status, placed = rest(first, "POST", "v1/orders", order)
    assert status == 201, placed
    assert stop(first) == 0, first.progress()
    assert len(first.descendants) >= 5  # PostgreSQL (and its workers), memcached, 3 services
    assert [pid for pid in first.descendants if alive(pid)] == []
    assert "stopped: no process of the stack is left" in first.progress()
    assert not (tmp_path / "state" / "run.json").exists()

    second = start(tmp_path / "state", first.ports)
    try:
        assert second.process.poll() is None, second.progress()
        assert "reusing its data" in second.progress()
        assert "seed products already there" in second.progress()
        status, again = rest(second, "GET", f"v1/{placed['name']}")
        assert status == 200 and again["state"] == "CONFIRMED", again
        assert rest(second, "GET", "v1/products/desk-lamp")[1]["stock"] == "14"
    finally:
        assert stop(second) == 0, second.progress()
    assert [pid for pid in second.descendants if alive(pid)] == []


def test_a_component_that_dies_stops_the_stack_and_shows_why(tmp_path: Path) -> None:
    """A service that crashes takes the stack down (exit 1, nothing left running), and the
    end of its log (an error, or faulthandler's traceback of a crash) is on the terminal."""
    with stopped_after(start(tmp_path / "state")) as stack:
        assert stack.process.poll() is None, stack.progress()
        pid = int(re.search(r"orders: starting \(pid (\d+)", stack.progress()).group(1))  # type: ignore[union-attr]
        stack.descendants = process_tree(stack.process.pid)
        os.kill(pid, signal.SIGSEGV)
        assert stack.process.wait(60) == 1, stack.progress()
    progress = stack.progress()
    assert "orders exited with code -11; stopping the stack" in progress, progress
    log = tmp_path / "state" / "logs" / "orders.log"
    assert f"--- the end of {log} ---" in progress, progress
    assert "Fatal Python error: Segmentation fault" in progress, progress
    assert [p for p in stack.descendants if alive(p)] == []
