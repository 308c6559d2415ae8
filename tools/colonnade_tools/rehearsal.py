"""The deploy rehearsal: run here the containers Terraform gives ECS, against servers set up
the way AWS runs them, and check the system they form.

Input is ``terraform show -json`` of an environment (its state after an apply, or a plan whose
task definitions are known): every ``aws_ecs_task_definition`` in it, read as ECS reads it
(image, command, entry point, environment, secret names, user, read-only root filesystem, the
``/tmp`` volume, port mappings, capabilities, init process, health check), and the ``spa_objects``
output (the web UI files the cdn module uploads, key => MD5).

Everything else comes from this machine, and every difference from the plan is printed as one
table before anything starts:

* PostgreSQL 15 requiring TLS, its certificate issued by a local CA for the plan's Aurora
  endpoint name, which resolves to the host; the local CA is mounted where the image keeps the
  RDS bundle, so ``verify-full`` runs exactly as in AWS;
* three TLS memcached nodes behind a stand-in for the ElastiCache configuration endpoint
  (Auto Discovery's ``config get cluster``), under the plan's endpoint name;
* IAM database authentication replaced by passwords (there is no IAM here): the bootstrap
  creates the service roles with them, the services log in with them;
* the RDS-managed master secret replaced by a local one of the same shape;
* the environment's token issuer (a Cognito user pool) replaced by a local stand-in
  (colonnade_tools.devstack.issuer) holding the state's app clients and their scopes, served
  over TLS with the local CA: the plan's issuer (``iss``) is kept, its JWKS URL and token
  endpoint point at the stand-in, the client secrets are the stand-in's, and the containers
  trust the local CA for it (``SSL_CERT_FILE``). Auth stays on: the checks below call with a
  user's token from the web client, and orders calls catalog with its own;
* the gateway's API key store (a secret of digests) replaced by a local one;
* each gRPC service's page-token keys (a random secret) replaced by a random local key, the
  same for every container of the service;
* the image: the one built here (from the local base) instead of the release's digest;
* the ADOT collector sidecar (its image cannot be pulled here): an OTLP receiver run with the
  service's image in the task container's network namespace (:mod:`colonnade_tools.otlp_receiver`).

Containers run with podman (or docker) on a network of their own, one container per task, each
with the service's name as a DNS alias (what Service Connect provides), the bootstrap task first.
A service task that exits before it is healthy is replaced, as ECS replaces it, until the
service has had as many failed tasks as the deployment circuit breaker allows.
The rehearsal passes when every container's own health check reports healthy, REST through the
gateway container reaches catalog, a product written through one catalog container is read
back (and read back again after an update) through another, an order placed through the gateway
takes its stock and gives it back when cancelled (orders calling catalog by its service name),
the order's trace reaches the collector's address from the gateway, orders and catalog (when the
plan runs the collector), and the gateway serves the web UI files the cdn module uploads.
Everything is torn down afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from colonnade_tools import otlp_receiver
from colonnade_tools.containers import ContainerError, Engine, find_engine
from colonnade_tools.devstack.issuer import Issuer
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.localca import LocalCA

#: Where the image keeps the RDS CA bundle (image/certs/ in the build context).
RDS_BUNDLE_PATH = "/etc/colonnade/certs/rds-ca-bundle.pem"
#: Where the rehearsal mounts its CA for the cache clients (CACHE_TLS_CA_FILE).
CACHE_CA_PATH = "/etc/colonnade/certs/rehearsal-cache-ca.pem"
#: Where the rehearsal mounts its CA for the token issuer's stand-in (SSL_CERT_FILE).
ISSUER_CA_PATH = "/etc/colonnade/certs/rehearsal-issuer-ca.pem"
#: The cdn module's change to the published index.html (terraform/modules/cdn/main.tf).
API_BASE_META = '<meta name="api-base" content="api/">'
CACHE_NODES = 3


class RehearsalError(AssertionError):
    """The rehearsal found the deployment would not work; the message says where."""


class _Exited(Exception):
    """A task's container stopped before its health check passed."""


def failed_task_threshold(desired: int) -> int:
    """How many failed tasks ECS's deployment circuit breaker lets a service's deployment have
    before it stops it: half the desired count, at least 3 and at most 200 (Amazon ECS
    Developer Guide, "How the Amazon ECS deployment circuit breaker detects failures")."""
    return max(3, min(200, math.ceil(desired / 2)))


# --------------------------------------------------------------------------------------------
# What the plan says


@dataclass(frozen=True)
class ContainerSpec:
    """One ECS container definition, with the task-level settings that shape how it runs."""

    family: str
    name: str
    image: str
    command: tuple[str, ...]
    entry_point: tuple[str, ...]
    environment: dict[str, str]
    secrets: dict[str, str]
    user: str | None
    read_only: bool
    tmpfs: tuple[str, ...]
    ports: tuple[int, ...]
    health_check: tuple[str, ...] | None
    init: bool
    cap_drop: tuple[str, ...]
    health_timeout: float

    @property
    def service(self) -> bool:
        """Whether this is a long-running service (a one-shot task has no port)."""
        return bool(self.ports)


def _task_definitions(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in module.get("resources", []):
        if resource.get("type") == "aws_ecs_task_definition" and resource.get("mode") == "managed":
            yield resource["values"]
    for child in module.get("child_modules", []):
        yield from _task_definitions(child)


def read_task_definitions(shown: dict[str, Any]) -> dict[str, ContainerSpec]:
    """The main container (the first) of every task definition in ``terraform show -json``
    output, by name."""
    specs = {main.name: main for main, _ in _tasks(shown)}
    if not specs:
        raise RehearsalError("no aws_ecs_task_definition in the state (compute is not ECS?)")
    return specs


def read_sidecars(shown: dict[str, Any]) -> dict[str, tuple[ContainerSpec, ...]]:
    """The other containers of each task definition (the ADOT collector), by main container."""
    return {main.name: sidecars for main, sidecars in _tasks(shown) if sidecars}


def _tasks(shown: dict[str, Any]) -> Iterator[tuple[ContainerSpec, tuple[ContainerSpec, ...]]]:
    """Each task definition's containers as ECS reads them: its main one, then its sidecars."""
    root = (shown.get("values") or shown.get("planned_values") or {}).get("root_module", {})
    for task in _task_definitions(root):
        specs: list[ContainerSpec] = []
        raw = task.get("container_definitions")
        if not isinstance(raw, str):
            raise RehearsalError(
                f"task definition {task.get('family')}: container definitions are not known "
                "(a plan before the first apply); rehearse an applied state or a later plan"
            )
        volumes = {v["name"]: v for v in task.get("volume") or []}
        for d in json.loads(raw):
            tmpfs = tuple(
                m["containerPath"]
                for m in d.get("mountPoints") or []
                if m.get("sourceVolume") in volumes and not m.get("readOnly")
            )
            caps = (d.get("linuxParameters") or {}).get("capabilities") or {}
            hc = d.get("healthCheck")
            health = None
            timeout = 60.0
            if hc:
                command = list(hc["command"])
                if command[0] == "CMD-SHELL":
                    health = ("/bin/sh", "-c", command[1])
                elif command[0] == "CMD":
                    health = tuple(command[1:])
                else:
                    raise RehearsalError(f"{d['name']}: health check {command!r} is not ECS form")
                timeout = hc.get("startPeriod", 0) + hc.get("interval", 30) * hc.get("retries", 3)
            specs.append(
                ContainerSpec(
                    family=task.get("family", ""),
                    name=d["name"],
                    image=d["image"],
                    command=tuple(d.get("command") or ()),
                    entry_point=tuple(d.get("entryPoint") or ()),
                    environment={e["name"]: e["value"] for e in d.get("environment") or []},
                    secrets={s["name"]: s["valueFrom"] for s in d.get("secrets") or []},
                    user=d.get("user"),
                    read_only=bool(d.get("readonlyRootFilesystem")),
                    tmpfs=tmpfs,
                    ports=tuple(p["containerPort"] for p in d.get("portMappings") or []),
                    health_check=health,
                    init=bool((d.get("linuxParameters") or {}).get("initProcessEnabled")),
                    cap_drop=tuple(caps.get("drop") or ()),
                    health_timeout=float(timeout),
                )
            )
        if specs:
            yield specs[0], tuple(specs[1:])


def _resources(module: dict[str, Any], rtype: str) -> Iterator[dict[str, Any]]:
    for resource in module.get("resources", []):
        if resource.get("type") == rtype and resource.get("mode") == "managed":
            yield resource["values"]
    for child in module.get("child_modules", []):
        yield from _resources(child, rtype)


def read_app_clients(shown: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Every Cognito app client in the state: id → the scopes it may be given."""
    root = (shown.get("values") or shown.get("planned_values") or {}).get("root_module", {})
    return {
        c["id"]: frozenset(c.get("allowed_oauth_scopes") or ())
        for c in _resources(root, "aws_cognito_user_pool_client")
        if c.get("id")
    }


def read_spa_objects(shown: dict[str, Any]) -> dict[str, str]:
    """The ``spa_objects`` output (key => MD5 of what the cdn module uploads), or {}."""
    outputs = (shown.get("values") or shown.get("planned_values") or {}).get("outputs", {})
    value = (outputs.get("spa_objects") or {}).get("value")
    return dict(value or {})


# --------------------------------------------------------------------------------------------
# What the rehearsal changes


@dataclass
class Substitutions:
    """Every difference between the plan and what runs here, for the printed table."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, what: str, plan: str, here: str) -> None:
        row = (what, plan, here)
        if row not in self.rows:
            self.rows.append(row)

    def table(self) -> str:
        head = ("what", "the plan", "the rehearsal")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(3)]
        lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head]]
        lines.append("-+-".join("-" * w for w in widths))
        lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in self.rows]
        return "\n".join(lines)


def _replace_netloc(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class LocalServers:
    """Where the stand-ins listen (on the container network's gateway address)."""

    address: str
    db_host: str
    db_port: int
    admin_secret: str
    passwords: dict[str, str]
    cache_host: str
    cache_port: int
    ca_file: Path
    #: The token issuer's stand-in: its base URL, each app client's secret, the API key store.
    issuer_url: str = ""
    client_secrets: dict[str, str] = field(default_factory=dict)
    api_keys: str = '{"keys": []}'
    #: Each service's page-token keys (PAGE_TOKEN_KEYS), one for all its containers.
    page_token_keys: dict[str, str] = field(default_factory=dict)


def adapt(
    spec: ContainerSpec, image: str, servers: LocalServers, subs: Substitutions
) -> tuple[dict[str, str], list[str]]:
    """The container's environment here and its host entries, recording each substitution."""
    env = dict(spec.environment)
    hosts: list[str] = []
    if spec.image != image:
        subs.add("image", spec.image, image)
    url = env.get("DATABASE_URL")
    if url:
        parts = urlsplit(url)
        if parts.hostname != servers.db_host:
            raise RehearsalError(
                f"{spec.name}: DATABASE_URL names {parts.hostname}, migrate "
                f"{servers.db_host}: they must be the same cluster"
            )
        env["DATABASE_URL"] = _replace_netloc(url, servers.db_host, servers.db_port)
        subs.add(
            "database endpoint",
            f"{parts.hostname}:{parts.port}",
            f"{servers.db_host} -> {servers.address}:{servers.db_port} (PostgreSQL 15, TLS)",
        )
    if "DB_PORT" in env:
        subs.add(
            "database endpoint",
            f"{env.get('DB_HOST')}:{env['DB_PORT']}",
            f"{servers.db_host} -> {servers.address}:{servers.db_port} (PostgreSQL 15, TLS)",
        )
        env["DB_PORT"] = str(servers.db_port)
    if url or "DB_HOST" in env:
        hosts.append(f"{servers.db_host}:{servers.address}")
        subs.add(
            "RDS CA bundle",
            f"{RDS_BUNDLE_PATH} (in the image)",
            f"the local CA mounted at {RDS_BUNDLE_PATH}",
        )
    iam = env.get("DB_IAM_AUTH", "").lower() in ("1", "true", "yes", "on")
    if iam:
        env["DB_IAM_AUTH"] = "false"
        if url:
            user = urlsplit(url).username or spec.name
            env["PGPASSWORD"] = servers.passwords[user]
            subs.add(f"{spec.name} login", "IAM token (DB_IAM_AUTH)", "password (PGPASSWORD)")
        else:
            for service, password in servers.passwords.items():
                env[f"DB_PASSWORD_{service.upper()}"] = password
            subs.add("service roles", "GRANT rds_iam", "password roles (DB_PASSWORD_<SERVICE>)")
    for name, arn in spec.secrets.items():
        if name == "DB_ADMIN_SECRET":
            env[name] = servers.admin_secret
            subs.add("DB_ADMIN_SECRET", arn, "a local secret of the same shape")
        elif name.endswith("SERVICE_CLIENT_SECRET"):
            client = env.get(name.replace("SERVICE_CLIENT_SECRET", "SERVICE_CLIENT_ID"), "")
            if client not in servers.client_secrets:
                raise RehearsalError(
                    f"{spec.name}: {name} is for client {client!r}, not in the state"
                )
            env[name] = servers.client_secrets[client]
            subs.add(
                f"{spec.name} client secret", arn, "the issuer stand-in's secret of its client"
            )
        elif name.endswith("API_KEYS"):
            env[name] = servers.api_keys
            subs.add("API key store", arn, "a local store of the rehearsal's key (digest)")
        elif name == "PAGE_TOKEN_KEYS":
            # Every container of the service signs and verifies with the same key, as its
            # ECS tasks all read the one secret.
            env[name] = servers.page_token_keys.setdefault(spec.name, secrets.token_urlsafe(48))
            subs.add(f"{spec.name} page-token keys", arn, "a random local key per service")
        else:
            raise RehearsalError(f"{spec.name}: no local stand-in for secret {name} ({arn})")
    issuer_settings = [k for k in env if k.endswith(("AUTH_JWKS", "SERVICE_TOKEN_URL"))]
    for key in issuer_settings:
        if not servers.issuer_url:
            raise RehearsalError(f"{spec.name}: {key} names a token issuer the state lacks")
        planned = env[key]
        path = "/oauth2/token" if key.endswith("SERVICE_TOKEN_URL") else urlsplit(planned).path
        env[key] = servers.issuer_url + path
        what = "token endpoint" if key.endswith("SERVICE_TOKEN_URL") else "token issuer keys (JWKS)"
        subs.add(what, planned, f"{env[key]} (stand-in, TLS with the local CA)")
    if issuer_settings:
        env["SSL_CERT_FILE"] = ISSUER_CA_PATH
        subs.add("issuer CA", "the system's", f"the local CA (SSL_CERT_FILE={ISSUER_CA_PATH})")
    cache = env.get("CACHE_URL", "")
    if cache.startswith("memcached://"):
        parts = urlsplit(cache)
        if parts.hostname != servers.cache_host:
            raise RehearsalError(
                f"{spec.name}: CACHE_URL names {parts.hostname}, expected {servers.cache_host}"
            )
        env["CACHE_URL"] = f"memcached://{servers.cache_host}:{servers.cache_port}"
        hosts.append(f"{servers.cache_host}:{servers.address}")
        subs.add(
            "cache configuration endpoint",
            f"{parts.hostname}:{parts.port}",
            f"-> {servers.address}:{servers.cache_port} (stand-in, {CACHE_NODES} TLS nodes)",
        )
        if env.get("CACHE_TLS", "").lower() == "true":
            env["CACHE_TLS_CA_FILE"] = CACHE_CA_PATH
            subs.add(
                "cache CA",
                "the system's (Amazon's public CA)",
                f"the local CA (CACHE_TLS_CA_FILE={CACHE_CA_PATH})",
            )
    return env, hosts


# --------------------------------------------------------------------------------------------
# Running it


def _wait(what: str, probe: Callable[[], bool], timeout: float, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(step)
    raise RehearsalError(f"{what}: not within {timeout:.0f} s")


@dataclass
class Running:
    """A container of the rehearsal and the host port each of its ports is published on."""

    name: str
    spec: ContainerSpec
    published: dict[int, int]


class Rehearsal:
    """One rehearsal of one environment's state on this machine."""

    def __init__(
        self,
        shown: dict[str, Any],
        *,
        image: str,
        engine: Engine | None = None,
        replicas: dict[str, int] | None = None,
        work_dir: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.shown = shown
        self.specs = read_task_definitions(shown)
        self.spa_objects = read_spa_objects(shown)
        self.sidecars = read_sidecars(shown)
        #: The OTLP receivers standing in for the ADOT collector sidecars (container names).
        self.receivers: list[str] = []
        #: Tasks of each service that exited before they were healthy, and were replaced.
        self.failed_tasks: dict[str, int] = {}
        self.image = image
        self.engine = engine or find_engine()
        self.replicas = {"catalog": 2, **(replicas or {})}
        self.work_dir = work_dir
        self.log = log
        self.subs = Substitutions()
        self.tag = uuid.uuid4().hex[:8]
        self.running: dict[str, list[Running]] = {}
        self.timings: dict[str, float] = {}
        self.cache_nodes: list[tuple[str, int]] = []
        self.ca_file: Path | None = None
        self.issuer: Issuer | None = None
        self.api_key = ""

    def user_token(self) -> str | None:
        """A signed-in user's access token from the web client (the app client that may be
        given `openid`), holding every scope it may be given; None without an issuer."""
        if self.issuer is None:
            return None
        web = [c for c, app in self.issuer.clients.items() if "openid" in app.scopes]
        if len(web) != 1:
            raise RehearsalError(f"expected one web client (openid) in the state, found {web}")
        return self.issuer.user_token(web[0], "rehearsal", self.issuer.clients[web[0]].scopes)

    # -- the stand-ins ---------------------------------------------------------------------

    def _network(self, stack: ExitStack) -> str:
        """A network of our own, held up by an idle container, and its gateway address."""
        name = f"colonnade-rehearsal-{self.tag}"
        self.engine.run("network", "create", name)
        stack.callback(self.engine.run, "network", "rm", "--force", name, check=False)
        info = json.loads(self.engine.run("network", "inspect", name).stdout)
        info = info[0] if isinstance(info, list) else info
        subnets = info.get("subnets") or info.get("IPAM", {}).get("Config") or []
        gateway = subnets[0].get("gateway") or subnets[0].get("Gateway")
        # The bridge (and so the gateway address the servers bind to) exists while a
        # container is attached: an idle one holds it up for the whole rehearsal.
        anchor = f"{name}-anchor"
        self.engine.run(
            "run",
            "--detach",
            "--name",
            anchor,
            "--network",
            name,
            *self.engine.limit_args,
            "--read-only",
            "--user",
            "10001:10001",
            self.image,
            "python",
            "-c",
            "import signal; signal.pause()",
        )
        stack.callback(self.engine.run, "rm", "--force", "--time", "0", anchor, check=False)
        _wait("the network's bridge", lambda: _can_bind(gateway), 30, 0.2)
        self.network = name
        return str(gateway)

    def _servers(self, stack: ExitStack, address: str, work: Path) -> LocalServers:
        from colonnade_tools.devstack.memcached import MemcachedServer
        from colonnade_tools.devstack.postgres import PostgresServer
        from colonnade_tools.devstack.system import find_postgres15

        migrate = self.specs.get("migrate")
        db_host = migrate.environment.get("DB_HOST") if migrate else None
        cache_urls = {s.environment.get("CACHE_URL") for s in self.specs.values()} - {None, "none"}
        if not db_host or len(cache_urls) != 1:
            raise RehearsalError(
                f"expected a migrate task with DB_HOST and one CACHE_URL, found {db_host!r} "
                f"and {sorted(u or '' for u in cache_urls)}"
            )
        cache_host = urlsplit(next(iter(cache_urls)) or "").hostname or ""
        node_names = [f"rehearsal-{i:04d}.{cache_host}" for i in range(1, CACHE_NODES + 1)]

        ca = LocalCA(work, "rehearsal")
        self.ca_file = ca_file = ca.cert

        started = time.monotonic()
        found = find_postgres15()
        if found is None:
            raise RehearsalError(
                "PostgreSQL 15 server binaries with TLS are needed (Debian: postgresql-15, "
                "or POSTGRES15_BIN)"
            )
        binaries = Path(found)
        server_cert = ca.issue(db_host)
        cert, key = server_cert.cert, server_cert.key
        db_port = free_port(address)
        pg = PostgresServer(
            work / "pgdata",
            db_port,
            host=address,
            durable=False,
            binaries=binaries,
            ssl_cert=cert,
            ssl_key=key,
            password_auth=True,
        )
        pg.start()
        stack.callback(pg.stop)
        admin_password = secrets.token_urlsafe(18)
        subprocess.run(
            [
                str(binaries / "psql"),
                "-h",
                address,
                "-p",
                str(db_port),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                f"ALTER ROLE postgres PASSWORD '{admin_password}'",
                "postgres",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PGSSLMODE": "require"},
        )
        database = migrate.environment.get("DB_NAME", "postgres") if migrate else "postgres"
        if database != "postgres":
            pg.create_database(database)

        server_cert = ca.issue(*node_names, cache_host, address)
        cert, key = server_cert.cert, server_cert.key
        nodes = []
        for node in node_names:
            server = MemcachedServer(free_port(address), host=address, tls_cert=cert, tls_key=key)
            server.start()
            stack.callback(server.stop)
            nodes.append(f"{node}|{address}|{server.port}")
            self.cache_nodes.append((address, server.port))
        cache_port = free_port(address)
        endpoint = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "colonnade_tools.devstack.elasticache",
                "--listen",
                f"{address}:{cache_port}",
                "--tls-cert",
                str(cert),
                "--tls-key",
                str(key),
                "--nodes",
                ",".join(nodes),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stack.enter_context((work / "elasticache.log").open("wb")),
        )
        stack.callback(_stop_process, endpoint)

        def endpoint_up() -> bool:
            if endpoint.poll() is not None:
                log = (work / "elasticache.log").read_text(errors="replace")[-2000:]
                raise RehearsalError(f"the configuration endpoint stand-in exited:\n{log}")
            return _listening(address, cache_port)

        _wait("the configuration endpoint stand-in", endpoint_up, 20)
        issuer_url, client_secrets, api_keys = self._issuer(stack, address, ca)
        self.timings["servers"] = time.monotonic() - started

        services = sorted(
            {
                urlsplit(s.environment["DATABASE_URL"]).username or s.name
                for s in self.specs.values()
                if "DATABASE_URL" in s.environment
            }
        )
        return LocalServers(
            address=address,
            db_host=db_host,
            db_port=db_port,
            admin_secret=json.dumps({"username": "postgres", "password": admin_password}),
            passwords={s: secrets.token_urlsafe(18) for s in services},
            cache_host=cache_host,
            cache_port=cache_port,
            ca_file=ca_file,
            issuer_url=issuer_url,
            client_secrets=client_secrets,
            api_keys=api_keys,
        )

    def _issuer(
        self, stack: ExitStack, address: str, ca: LocalCA
    ) -> tuple[str, dict[str, str], str]:
        """The token issuer's stand-in with the state's app clients (none: no issuer), its
        URL and client secrets, and an API key store holding the rehearsal's key."""
        from colonnade.runtime.auth import ApiKeyEntry, hash_api_key, new_api_key
        from colonnade_tools.devstack.issuer import AppClient

        self.api_key = new_api_key()
        entry = ApiKeyEntry("rehearsal", hash_api_key(self.api_key), "apikey:rehearsal", (), "web")
        api_keys = json.dumps({"keys": [entry.as_json()]})
        issuers = {
            v
            for s in self.specs.values()
            for k, v in s.environment.items()
            if k.endswith("AUTH_ISSUER")
        }
        clients = read_app_clients(self.shown)
        if not clients or len(issuers) != 1:
            if issuers:
                raise RehearsalError(
                    f"the tasks name issuers {sorted(issuers)}, the state has "
                    f"{len(clients)} app clients"
                )
            return "", {}, api_keys
        secret = {c: secrets.token_urlsafe(24) for c in clients}
        issuer = Issuer(
            next(iter(issuers)), {c: AppClient(secret[c], scopes) for c, scopes in clients.items()}
        )
        cert = ca.issue(address)
        url = issuer.start(address, free_port(address), tls=(cert.cert, cert.key))
        stack.callback(issuer.stop)
        self.issuer = issuer
        return url, secret, api_keys

    # -- the containers ------------------------------------------------------------------

    def _run_args(
        self,
        spec: ContainerSpec,
        name: str,
        env: dict[str, str],
        hosts: list[str],
        servers: LocalServers,
        detach: bool,
    ) -> list[str]:
        args = ["run", "--name", name, "--network", self.network, "--network-alias", spec.name]
        args += ["--detach"] if detach else []
        args += list(self.engine.limit_args)
        if spec.user:
            args += ["--user", spec.user]
        if spec.read_only:
            args += ["--read-only"]
        for path in spec.tmpfs:
            args += ["--tmpfs", f"{path}:rw,size=64m,mode=1777"]
        if spec.init:
            args += ["--init"]
        for cap in spec.cap_drop:
            args += ["--cap-drop", cap]
        for host in hosts:
            args += ["--add-host", host]
        ca = str(servers.ca_file)
        args += ["--volume", f"{ca}:{RDS_BUNDLE_PATH}:ro", "--volume", f"{ca}:{CACHE_CA_PATH}:ro"]
        args += ["--volume", f"{ca}:{ISSUER_CA_PATH}:ro"]
        for port in spec.ports:
            args += ["--publish", f"127.0.0.1::{port}"]
        if spec.health_check:
            args += [
                "--health-cmd",
                json.dumps(list(spec.health_check)),
                "--health-interval",
                "disable",
            ]
        for key, value in sorted(env.items()):
            args += ["--env", f"{key}={value}"]
        if spec.entry_point:
            args += ["--entrypoint", json.dumps(list(spec.entry_point))]
        return [*args, self.image, *spec.command]

    def _logs(self, name: str) -> str:
        proc = self.engine.run("logs", name, check=False)
        return ((proc.stdout or "") + (proc.stderr or ""))[-3000:]

    def _published(self, name: str, spec: ContainerSpec) -> dict[int, int]:
        out: dict[int, int] = {}
        for port in spec.ports:
            text = self.engine.run("port", name, f"{port}/tcp").stdout.strip().splitlines()[0]
            out[port] = int(text.rpartition(":")[2])
        return out

    def _healthy(self, name: str, spec: ContainerSpec, replace: Callable[[], None]) -> None:
        """Run the container's own health check until it passes, as ECS would, replacing the
        task when it exits first, as the ECS service scheduler does, until the service has
        had as many failed tasks as the deployment circuit breaker allows."""

        def probe() -> bool:
            state = self.engine.run("inspect", "--format", "{{.State.Running}}", name, check=False)
            if state.stdout.strip() != "true":
                raise _Exited
            return self.engine.run("healthcheck", "run", name, check=False).returncode == 0

        if spec.health_check is None:
            raise RehearsalError(f"{spec.name}: a service without a health check")
        threshold = failed_task_threshold(self.replicas.get(spec.name, 1))
        while True:
            try:
                _wait(f"{name}: {' '.join(spec.health_check)}", probe, spec.health_timeout, 1.0)
                return
            except RehearsalError as exc:
                raise RehearsalError(f"{exc}\n{self._logs(name)}") from None
            except _Exited:
                code = self.engine.run(
                    "inspect", "--format", "{{.State.ExitCode}}", name, check=False
                ).stdout.strip()
                logs = self._logs(name)
                failures = self.failed_tasks[spec.name] = self.failed_tasks.get(spec.name, 0) + 1
                if failures >= threshold:
                    raise RehearsalError(
                        f"{name} exited {code} at start-up; {spec.name} has had {failures} failed "
                        f"tasks, the most ECS's deployment circuit breaker allows "
                        f"({threshold}):\n{logs}"
                    ) from None
                last = "\n".join(logs.strip().splitlines()[-5:])
                self.log(
                    f"rehearsal: {name} exited {code} at start-up; ECS replaces a stopped task, "
                    f"so the rehearsal does (failed task {failures} of the {threshold} the "
                    f"circuit breaker allows):\n{last}"
                )
                replace()

    def _start(self, stack: ExitStack, servers: LocalServers) -> None:
        migrate = self.specs.get("migrate")
        if migrate is not None:
            started = time.monotonic()
            env, hosts = adapt(migrate, self.image, servers, self.subs)
            name = f"{self.network}-migrate"
            stack.callback(self.engine.run, "rm", "--force", name, check=False)
            proc = self.engine.run(
                *self._run_args(migrate, name, env, hosts, servers, detach=False),
                check=False,
                timeout=300,
            )
            if proc.returncode != 0:
                raise RehearsalError(
                    f"the bootstrap task exited {proc.returncode}:\n"
                    f"{(proc.stdout or '')[-3000:]}{(proc.stderr or '')[-3000:]}"
                )
            self.timings["migrate"] = time.monotonic() - started
            self.log(f"rehearsal: the bootstrap task exited 0 in {self.timings['migrate']:.1f} s")
        # Backends before the gateway, as ECS would have them registered by then.
        order = sorted(
            (s for s in self.specs.values() if s.service),
            key=lambda s: "GATEWAY" in " ".join(s.environment),
        )
        for spec in order:
            started = time.monotonic()
            env, hosts = adapt(spec, self.image, servers, self.subs)
            names = []
            replacements = {}
            for i in range(1, self.replicas.get(spec.name, 1) + 1):
                name = f"{self.network}-{spec.name}-{i}"
                stack.callback(self.engine.run, "rm", "--force", "--time", "5", name, check=False)
                args = self._run_args(spec, name, env, hosts, servers, detach=True)
                self._start_task(stack, spec, name, args)
                replacements[name] = partial(self._replace_task, stack, spec, name, args)
                names.append(name)
            for name in names:
                self._healthy(name, spec, replace=replacements[name])
                self.running.setdefault(spec.name, []).append(
                    Running(name, spec, self._published(name, spec))
                )
            self.timings[spec.name] = time.monotonic() - started
            self.log(
                f"rehearsal: {len(names)} x {spec.name} healthy by its own check "
                f"({' '.join(spec.health_check or ())}) in {self.timings[spec.name]:.1f} s"
            )

    def _start_task(
        self, stack: ExitStack, spec: ContainerSpec, name: str, args: list[str]
    ) -> None:
        """Start one task: its container, then its sidecars in the container's network
        namespace."""
        self.engine.run(*args)
        self._start_sidecars(stack, spec, name)

    def _replace_task(
        self, stack: ExitStack, spec: ContainerSpec, name: str, args: list[str]
    ) -> None:
        """What ECS does with a stopped task: the whole task (sidecars first, as podman needs:
        they live in its network namespace) is removed and a new one started in its place."""
        for sidecar in self.sidecars.get(spec.name, ()):
            self.engine.run("rm", "--force", "--time", "2", f"{name}-{sidecar.name}", check=False)
        self.engine.run("rm", "--force", "--time", "2", name, check=False)
        self._start_task(stack, spec, name, args)

    def _start_sidecars(self, stack: ExitStack, spec: ContainerSpec, task: str) -> None:
        """The task's ADOT collector as the OTLP receiver (see :mod:`otlp_receiver`), run with
        the service's image in the task container's network namespace, where the service's
        ``OTLP_ENDPOINT`` (loopback) reaches it as it reaches the collector in ECS."""
        for sidecar in self.sidecars.get(spec.name, ()):
            name = f"{task}-{sidecar.name}"
            if name not in self.receivers:  # a replaced task's sidecar takes the same name
                # Registered after the task's own container: removed before it, as podman needs.
                stack.callback(self.engine.run, "rm", "--force", "--time", "2", name, check=False)
                self.receivers.append(name)
            args = ["run", "--detach", "--name", name, "--network", f"container:{task}"]
            args += list(self.engine.limit_args)
            args += ["--user", sidecar.user] if sidecar.user else []
            args += ["--read-only"] if sidecar.read_only else []
            source = Path(otlp_receiver.__file__).read_text()
            self.engine.run(*args, "--entrypoint", "python3", self.image, "-c", source)

    def _sidecar_substitutions(self) -> None:
        for main, sidecars in sorted(self.sidecars.items()):
            for sidecar in sidecars:
                if not _is_collector(sidecar):
                    raise RehearsalError(
                        f"{main}: no local stand-in for sidecar {sidecar.name} ({sidecar.image})"
                    )
        collectors = sorted(main for main, cars in self.sidecars.items() if any(cars))
        if collectors:
            image = next(c.image for cars in self.sidecars.values() for c in cars)
            self.subs.add(
                f"trace collector ({', '.join(collectors)})",
                image,
                "an OTLP receiver (colonnade_tools.otlp_receiver) in each task's network "
                "namespace; its export to X-Ray is not rehearsed",
            )

    # -- what must work ----------------------------------------------------------------

    def _http(
        self,
        port: int,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """A call through the gateway, as the signed-in user when there is an issuer."""
        sent = {"content-type": "application/json"} if body else {}
        token = self.user_token()
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=body,
            method="POST" if body else "GET",
            headers={**sent, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def _staleness(self) -> float:
        """How long a catalog task may serve a product it read before another task's write:
        its hot entries' CACHE_LOCAL_TTL, plus a second for the calls themselves."""
        catalog = self.specs.get("catalog")
        return float((catalog.environment if catalog else {}).get("CACHE_LOCAL_TTL") or 0) + 1.0

    def _settled(self, read: Callable[[], str], expected: str) -> str:
        """``read()`` once it returns ``expected``, or what it still returns after the catalog's
        staleness bound (a read before the bound may come from a task's hot entry)."""
        deadline = time.monotonic() + self._staleness()
        while (seen := read()) != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return seen

    def _check_catalog(self) -> None:
        import grpc
        from google.protobuf import field_mask_pb2
        from google.type import money_pb2

        from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc

        catalogs = self.running.get("catalog", [])
        if len(catalogs) < 2:
            raise RehearsalError("the cross-task read needs two catalog containers")
        first, second = (
            catalog_pb2_grpc.CatalogServiceStub(
                grpc.insecure_channel(f"127.0.0.1:{c.published[c.spec.ports[0]]}")
            )
            for c in catalogs[:2]
        )
        product_id = f"rehearsal-{self.tag}"
        # Catalog enforces its policies itself: the direct calls carry the user's token.
        token = self.user_token()
        auth = () if token is None else (("authorization", f"Bearer {token}"),)
        created = first.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    sku=product_id.upper(),
                    title="Rehearsal",
                    price=money_pb2.Money(currency_code="EUR", units=12, nanos=500_000_000),
                ),
                product_id=product_id,
            ),
            timeout=10,
            metadata=auth,
        )
        seen = second.GetProduct(
            catalog_pb2.GetProductRequest(name=created.name), timeout=10, metadata=auth
        )
        if seen.title != "Rehearsal":
            raise RehearsalError(f"read through the second catalog: {seen}")
        first.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=created.name, title="Rehearsal 2"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            timeout=10,
            metadata=auth,
        )
        title = self._settled(
            lambda: (
                second.GetProduct(
                    catalog_pb2.GetProductRequest(name=created.name), timeout=10, metadata=auth
                ).title
            ),
            "Rehearsal 2",
        )
        if title != "Rehearsal 2":
            raise RehearsalError(
                f"stale read: catalog #2 still returns {title!r} {self._staleness():g} s after "
                "catalog #1 updated it (the tasks do not share the cache nodes' view)"
            )
        self.product = created.name
        stats = self._cache_stats()
        used = [f"{host}:{port}" for (host, port), st in stats.items() if st["cmd_set"] > 0]
        if not used:
            raise RehearsalError(
                f"the catalog containers never wrote to the cache nodes ({stats}): the cache is "
                "degraded (TLS, discovery or the configuration endpoint does not work)"
            )
        self.log(
            "rehearsal: cache nodes used over TLS through Auto Discovery: "
            + ", ".join(
                f"{h}:{p} sets={st['cmd_set']} hits={st['get_hits']}"
                for (h, p), st in stats.items()
            )
        )
        self.log(
            f"rehearsal: {created.name} written via {catalogs[0].name}, "
            f"read and re-read after an update via {catalogs[1].name}"
        )

    def _cache_stats(self) -> dict[tuple[str, int], dict[str, int]]:
        """``stats`` of every memcached node, over TLS with the rehearsal's CA."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.check_hostname = False  # the nodes are addressed by IP here
        out: dict[tuple[str, int], dict[str, int]] = {}
        for host, port in self.cache_nodes:
            with (
                socket.create_connection((host, port), timeout=5) as raw,
                context.wrap_socket(raw) as tls,
            ):
                tls.sendall(b"stats\r\n")
                data = b""
                while not data.endswith(b"END\r\n"):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            values = dict(
                line.split()[1:3] for line in data.decode().splitlines() if line.startswith("STAT ")
            )
            out[(host, port)] = {
                k: int(values.get(k, 0)) for k in ("cmd_set", "get_hits", "curr_items")
            }
        return out

    def _check_gateway(self) -> None:
        gateway = next(
            (
                r
                for rs in self.running.values()
                for r in rs
                if "COLONNADE_GATEWAY_BACKENDS" in r.spec.environment
            ),
            None,
        )
        if gateway is None:
            raise RehearsalError("no gateway container in the plan")
        port = gateway.published[gateway.spec.ports[0]]
        status, body = self._http(port, f"/v1/{self.product}")
        if status != 200 or json.loads(body).get("title") != "Rehearsal 2":
            raise RehearsalError(f"GET /v1/{self.product} through the gateway: {status} {body!r}")
        status, body = self._http(port, "/v1/products?page_size=1")
        if status != 200:
            raise RehearsalError(f"GET /v1/products through the gateway: {status} {body!r}")
        # v2 is routed too (the plan's gateway backends) and reads the same product.
        status, body = self._http(port, f"/v2/{self.product}")
        if status != 200 or json.loads(body).get("displayName") != "Rehearsal 2":
            raise RehearsalError(f"GET /v2/{self.product} through the gateway: {status} {body!r}")
        self.log(f"rehearsal: REST through {gateway.name} reaches catalog, v1 and v2")
        self._check_orders(gateway.name, port)
        if not self.spa_objects:
            raise RehearsalError("the state has no spa_objects output to compare the web UI with")
        for key, md5 in sorted(self.spa_objects.items()):
            status, served = self._http(port, "/" + key)
            if status != 200:
                raise RehearsalError(f"the gateway does not serve /{key} ({status})")
            if key == "index.html":  # the cdn module adds the API base to the published copy
                served = served.replace(b"<head>", b"<head>\n  " + API_BASE_META.encode(), 1)
            if hashlib.md5(served).hexdigest() != md5:
                raise RehearsalError(f"/{key} served by the gateway is not what the cdn uploads")
        self.log(
            f"rehearsal: the web UI files ({', '.join(sorted(self.spa_objects))}) are the "
            "ones the cdn module uploads"
        )

    def _check_orders(self, gateway: str, port: int) -> None:
        """An order placed and cancelled through the gateway: orders reaches catalog by its
        Service Connect name, reserves, commits, and the cancellation returns the stock."""
        product_id = f"rehearsal-order-{self.tag}"
        product = {
            "sku": product_id.upper(),
            "title": "Rehearsal order",
            "price": {"currencyCode": "EUR", "units": "4"},
            "stock": "3",
        }
        status, body = self._http(
            port, f"/v1/products?productId={product_id}", json.dumps(product).encode()
        )
        if status != 201:
            raise RehearsalError(f"POST /v1/products through the gateway: {status} {body!r}")

        def stock() -> str:
            status, body = self._http(port, f"/v1/products/{product_id}")
            return str(json.loads(body).get("stock")) if status == 200 else f"{status} {body!r}"

        order = {
            "currencyCode": "EUR",
            "lineItems": [{"product": f"products/{product_id}", "quantity": "2"}],
        }
        # Sampled by the caller, so the trace is recorded whatever the plan's sampling ratio.
        trace_id = f"{int(time.time()):08x}{secrets.token_hex(12)}"
        status, body = self._http(
            port,
            f"/v1/orders?requestId={uuid.uuid4()}",
            json.dumps(order).encode(),
            {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        )
        placed = json.loads(body) if status == 201 else {}
        if placed.get("state") != "CONFIRMED" or placed.get("total", {}).get("units") != "8":
            raise RehearsalError(f"POST /v1/orders through the gateway: {status} {body!r}")
        if (seen := self._settled(stock, "1")) != "1":
            raise RehearsalError(f"the order did not take its stock: {seen}")
        status, body = self._http(port, f"/v1/{placed['name']}:cancel", b"{}")
        if status != 200 or json.loads(body).get("state") != "CANCELLED":
            raise RehearsalError(f"POST /v1/{placed['name']}:cancel: {status} {body!r}")
        if (seen := self._settled(stock, "3")) != "3":
            raise RehearsalError(f"the cancelled order's stock did not come back: {seen}")
        self.log(
            f"rehearsal: an order placed and cancelled through {gateway} (orders called catalog "
            "by its service name); the stock came back"
        )
        if self.receivers:
            self._check_trace(trace_id)

    def _check_trace(self, trace_id: str, timeout: float = 30.0) -> None:
        """The order's trace reached the collector's address from every service on its path
        (the SDK exports in batches, every 5 s by default)."""
        expected = {"gateway", "orders", "catalog"}
        spans: list[dict[str, str]] = []

        def arrived() -> bool:
            spans.clear()
            for name in self.receivers:
                text = self.engine.run("logs", name, check=False).stdout or ""
                for line in text.splitlines():
                    if line.startswith("{") and f'"{trace_id}"' in line:
                        spans.append(json.loads(line))
            return expected <= {s["service"] for s in spans}

        try:
            _wait(f"the spans of trace {trace_id}", arrived, timeout, 1.0)
        except RehearsalError:
            seen = sorted({s["service"] for s in spans})
            raise RehearsalError(
                f"trace {trace_id}: spans from {seen or 'no service'} reached the collector's "
                f"address, expected {sorted(expected)}:\n{self._logs(self.receivers[0])}"
            ) from None
        self.log(
            f"rehearsal: the order's trace reached the trace collector's address from "
            f"{', '.join(sorted(expected))} ({len(spans)} spans: "
            f"{', '.join(sorted({s['name'] for s in spans}))})"
        )

    def run(self) -> dict[str, float]:
        """Rehearse; raise :class:`RehearsalError` saying what would not work. Returns timings."""
        started = time.monotonic()
        with ExitStack() as stack:
            work = Path(
                self.work_dir
                or stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearsal-"))
            )
            work.chmod(0o755)
            address = self._network(stack)
            servers = self._servers(stack, address, work)
            # The substitutions are known before anything runs: print them first.
            for spec in self.specs.values():
                adapt(spec, self.image, servers, self.subs)
            self.subs.add(
                "Service Connect names",
                ", ".join(
                    f"{n}:{spec.ports[0]}" for n, spec in sorted(self.specs.items()) if spec.ports
                )
                + " (Envoy proxy)",
                "DNS aliases on a podman network",
            )
            self.subs.add("awslogs", "CloudWatch Logs", f"{self.engine.name} logs")
            self._sidecar_substitutions()
            self.log("rehearsal: what differs from the plan\n" + self.subs.table())
            self._start(stack, servers)
            self._check_catalog()
            self._check_gateway()
        self.timings["total"] = time.monotonic() - started
        return self.timings


def _is_collector(spec: ContainerSpec) -> bool:
    """Whether a sidecar is the ADOT collector (any tag, any registry)."""
    return spec.image.rpartition("/")[2].split(":")[0].split("@")[0] == "aws-otel-collector"


def _can_bind(address: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m colonnade_tools.rehearsal",
        description="Run the ECS task definitions of a `terraform show -json` here.",
    )
    parser.add_argument("shown", type=Path, help="terraform show -json output (state or plan)")
    parser.add_argument("--image", required=True, help="local image to run instead of the plan's")
    args = parser.parse_args(argv)
    try:
        timings = Rehearsal(json.loads(args.shown.read_text()), image=args.image).run()
    except (RehearsalError, ContainerError) as exc:
        print(f"rehearsal failed: {exc}", file=sys.stderr)
        return 1
    print("rehearsal passed: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
