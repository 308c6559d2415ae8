"""No secret in any log: the whole local stack (``make run``'s start-up) against a PostgreSQL
that requires TLS and a password, DEBUG logs and access logs on, driven with a user token, an
API key, forged credentials and page tokens over REST and gRPC; then every line any process
wrote (each service's and the gateway's log, the stack's progress, PostgreSQL's own log) is
searched for the token, the API key, the forged token, the database password, the signing
keys, and anything shaped like a JWT.

The stack's summary on stdout is the one place that prints the token and the API key: it is
what ``make run`` hands the developer to call with, not a log, and is checked to carry them
(so the search below looks for the right values).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from pathlib import Path
from urllib.parse import quote

import asyncpg
import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.postgres import (
    DEBIAN_POSTGRES_HINT,
    PostgresServer,
    debian_postgres_binaries,
)
from colonnade_tools.localca import LocalCA
from tests.e2e.test_devstack import Stack, rest, start, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A JWT's three base64url parts, the first two JSON objects ("{" encodes as "ey").
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")


async def database_role(server: PostgresServer, ca: Path, password: str) -> None:
    """``app``, with ``password``, owning the database the stack migrates."""
    admin = await asyncpg.connect(
        server.url("colonnade", sslmode="verify-full", sslrootcert=str(ca))
    )
    try:
        await admin.execute(f"CREATE ROLE app LOGIN PASSWORD '{password}'")
        await admin.execute("ALTER DATABASE colonnade OWNER TO app")
        await admin.execute("ALTER SCHEMA public OWNER TO app")
    finally:
        await admin.close()


def scenario(stack: Stack, api_key: str, forged: str) -> None:
    """Reads, writes, paging and refusals with every kind of credential (and a forged page
    token)."""
    status, _ = rest(stack, "GET", "v1/products", bearer=False)
    assert status == 200
    sku = f"SEC-{uuid.uuid4().hex[:8]}"
    product = {"sku": sku, "title": "Probe", "price": {"currencyCode": "EUR", "units": "3"}}
    status, created = rest(stack, "POST", "v1/products", product)
    assert status == 201, created
    order = {
        "currencyCode": "EUR",
        "lineItems": [{"product": "products/desk-lamp", "quantity": "1"}],
    }
    for _ in range(2):
        status, placed = rest(stack, "POST", f"v1/orders?requestId={uuid.uuid4()}", order)
        assert status == 201, placed
    status, page = rest(stack, "GET", "v1/orders?pageSize=1", bearer=False, x_api_key=api_key)
    assert status == 200 and page.get("nextPageToken"), page
    next_page = page["nextPageToken"]
    status, _ = rest(stack, "GET", f"v1/orders?pageSize=1&pageToken={quote(next_page)}")
    assert status == 200
    # Page tokens are signed: one whose signature was altered is a 400 naming page_token.
    altered = next_page[:-2] + ("AA" if not next_page.endswith("AA") else "BB")
    status, body = rest(stack, "GET", f"v1/orders?pageSize=1&pageToken={quote(altered)}")
    assert status == 400 and "page_token" in str(body), body
    # Refused credentials are where a careless log line would print what it refused.
    for refused in (
        {"authorization": f"Bearer {forged}"},
        {"x_api_key": api_key[:-4] + "XXXX"},
        {"authorization": f"Basic {stack.token}"},
    ):
        status, body = rest(stack, "GET", "v1/orders", bearer=False, **refused)
        assert status == 401, (refused, status, body)
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports['ORDERS_PORT']}") as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        listed = stub.ListOrders(
            orders_pb2.ListOrdersRequest(page_size=1),
            metadata=[("authorization", f"Bearer {stack.token}")],
            timeout=15,
        )
        assert listed.orders
        with pytest.raises(grpc.RpcError) as denied:
            stub.ListOrders(
                orders_pb2.ListOrdersRequest(),
                metadata=[("authorization", f"Bearer {forged}")],
                timeout=15,
            )
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_no_token_key_or_password_in_any_process_log(tmp_path: Path, local_ca: LocalCA) -> None:
    binaries = debian_postgres_binaries()
    if binaries is None:
        pytest.fail(DEBIAN_POSTGRES_HINT)
    cert = local_ca.issue("127.0.0.1")
    database = PostgresServer(
        tmp_path / "pg" / "data",
        free_port(),
        durable=False,
        binaries=binaries,
        ssl_cert=cert.cert,
        ssl_key=cert.key,
        password_auth=True,
    )
    password = "pw-" + secrets.token_urlsafe(18)  # pragma: allowlist secret (random per run)
    database.start()
    try:
        database.create_database("colonnade")
        asyncio.run(database_role(database, local_ca.cert, password))
        url = database.url(
            "colonnade",
            user="app",
            password=password,
            sslmode="verify-full",
            sslrootcert=str(local_ca.cert),
        )
        state = tmp_path / "state"
        stack = start(
            state,
            extra_env={
                "DATABASE_URL": url,
                "LOG_LEVEL": "DEBUG",
                "LOG_ACCESS": "1",
                "COLONNADE_GATEWAY_ACCESS_LOG": "1",
            },
        )
        try:
            assert stack.process.poll() is None, stack.progress()
            api_key = re.search(r"x-api-key: (\S+)", stack.banner)
            assert api_key, stack.banner
            # Same issuer, audience and key id as the real tokens; another key signed it.
            header = jwt.get_unverified_header(stack.token)
            forged = jwt.encode(
                jwt.decode(stack.token, options={"verify_signature": False}),
                ec.generate_private_key(ec.SECP256R1()),
                algorithm="ES256",
                headers={"kid": header.get("kid", "dev-users")},
            )
            scenario(stack, api_key.group(1), forged)
        finally:
            assert stop(stack) == 0, stack.progress()
        pg_log = database.log_path.read_text(errors="replace")
    finally:
        database.remove()

    assert stack.token in stack.banner and api_key.group(1) in stack.banner
    logs = {path.name: path.read_text(errors="replace") for path in (state / "logs").glob("*")}
    assert {"catalog.log", "orders.log", "gateway.log"} <= set(logs), sorted(logs)
    # The scenario's requests are in the access logs searched below.
    assert "/v1/orders" in logs["gateway.log"], logs["gateway.log"][-2000:]
    assert "OrdersService/ListOrders" in logs["orders.log"], logs["orders.log"][-2000:]
    debug = re.compile(r'"level":\s*"DEBUG"')
    assert any(debug.search(text) for text in logs.values()), "no DEBUG line logged"
    logs["stack progress (stderr)"] = stack.progress()
    logs["postgresql.log"] = pg_log
    signing_keys = {
        path.name: "".join(path.read_text().splitlines()[1:-1])
        for path in (state / "auth").glob("*.pem")
    }
    assert signing_keys
    secrets_by_name = {
        "the user token": stack.token,
        "its signature": stack.token.rsplit(".", 1)[1],
        "the API key": api_key.group(1),
        "the forged token": forged,
        "the database password": password,
        "the database password, URL-quoted": quote(password, safe=""),
        **{f"signing key {name}": body[16:48] for name, body in signing_keys.items()},
    }
    leaks = [
        f"{what} in {where}"
        for where, text in logs.items()
        for what, value in secrets_by_name.items()
        if value in text
    ]
    leaks += [
        f"a JWT-shaped string in {where}: {m.group(0)[:24]}…"
        for where, text in logs.items()
        for m in [JWT_SHAPE.search(text)]
        if m
    ]
    assert not leaks, leaks
    lines = sum(t.count("\n") for t in logs.values())
    assert lines > 50, f"only {lines} log lines: the scenario did not reach the logs"
