"""The deploy rehearsal: every environment's applied task definitions, run here.

Each environment is applied against the account's moto server (the session's ``env_runs``,
shared with test_live.py, which applies them all; ``make rehearse ENV=…`` applies only its
own); ``terraform show -json`` of its state is what the rehearsal reads.
The image is the one built from a clean clone (tests/containers.py), pushed to a loopback
registry and run by digest, as ECS pulls it. ``make rehearse ENV=…`` runs one of these.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from colonnade_tools.containers import Engine
from colonnade_tools.image import BuiltImage
from colonnade_tools.registry import LocalRegistry
from colonnade_tools.rehearsal import (
    Rehearsal,
    RehearsalError,
    read_sidecars,
    read_task_definitions,
)
from colonnade_tools.release import push

from .harness import ENVIRONMENTS, RootRun

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.containers,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
]


@pytest.fixture(scope="module")
def pushed_image(
    engine: Engine, image: BuiltImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The image in a loopback registry, pulled back by digest: ``<repository>@sha256:…``."""
    registry = LocalRegistry(tmp_path_factory.mktemp("rehearsal-registry"))
    registry.start()
    repository = f"{registry.host}/colonnade"
    digest = push(engine, image.ref, f"{repository}:{image.revision}")
    ref = f"{repository}@{digest}"
    tls = ["--tls-verify=false"] if engine.name == "podman" else []
    engine.run("pull", *tls, ref, timeout=600)
    yield ref
    engine.run("rmi", "--force", ref, check=False)
    registry.stop()


def _shown(run: RootRun) -> dict[str, object]:
    run.apply()  # once per session; moto's documented gaps do not touch task definitions
    shown: dict[str, object] = json.loads(run.workdir.run("show", "-json").stdout)
    return shown


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rehearsal(
    env: str, env_runs: dict[str, RootRun], pushed_image: str, engine: Engine, tmp_path: Path
) -> None:
    """Every container of the environment's task definitions runs here as ECS would run it,
    and the system they form works (see colonnade_tools.rehearsal for what is checked)."""
    shown = _shown(env_runs[env])
    specs = read_task_definitions(shown)
    assert set(specs) == {"gateway", "catalog", "orders", "migrate"}
    # What the plan gives the containers is what the rehearsal runs: no shell, no Python in HCL.
    assert specs["catalog"].health_check == ("colonnade-healthcheck", "grpc", "127.0.0.1:50051")
    assert specs["orders"].health_check == ("colonnade-healthcheck", "grpc", "127.0.0.1:50052")
    assert all(
        s.user == "10001:10001" and s.read_only and s.tmpfs == ("/tmp",) for s in specs.values()
    )
    # Every long-running task has the ADOT collector beside it; the one-shot bootstrap has not.
    sidecars = read_sidecars(shown)
    assert {n: [c.name for c in cars] for n, cars in sidecars.items()} == {
        n: ["otel-collector"] for n in ("gateway", "catalog", "orders")
    }
    assert all(
        specs[n].environment.get(
            "TRACE_EXPORTERS", specs[n].environment.get("COLONNADE_GATEWAY_TRACE_EXPORTERS")
        )
        == "otlp"
        for n in sidecars
    )
    lines: list[str] = []
    timings = Rehearsal(
        shown, image=pushed_image, engine=engine, work_dir=tmp_path, log=lines.append
    ).run()
    print("\n".join(lines))
    table = lines[0]
    for row in (
        "image",
        "database endpoint",
        "RDS CA bundle",
        "DB_ADMIN_SECRET",
        "cache CA",
        "token issuer keys (JWKS)",
        "token endpoint",
        "API key store",
    ):
        assert f"\n{row} " in table, f"{row} missing from the substitution table:\n{table}"
    assert "\ntrace collector (catalog, gateway, orders) " in table
    assert any("cache nodes used over TLS" in line for line in lines)
    assert any("the order's trace reached the trace collector's address" in line for line in lines)
    assert timings["total"] < 600


def test_rehearsal_fails_when_the_plan_gives_a_wrong_ca(
    env_runs: dict[str, RootRun], pushed_image: str, engine: Engine, tmp_path: Path
) -> None:
    """The rehearsal is not a formality: a task definition whose database URL does not verify
    against the bundle (here: verify-full pointed at a file that is not the RDS bundle) fails it,
    with the bootstrap's or the service's own words."""
    shown = _shown(env_runs["dev"])
    text = json.dumps(shown).replace(
        "sslrootcert=/etc/colonnade/certs/rds-ca-bundle.pem",
        "sslrootcert=/etc/ssl/certs/ca-certificates.crt",
    )
    with pytest.raises(RehearsalError, match="catalog"):
        Rehearsal(
            json.loads(text), image=pushed_image, engine=engine, work_dir=tmp_path, log=print
        ).run()


def test_a_task_that_exits_at_start_up_is_replaced_as_ecs_would(
    env_runs: dict[str, RootRun], pushed_image: str, engine: Engine
) -> None:
    """ECS replaces a task that stops before it is healthy, until the deployment circuit
    breaker's threshold (3 failed tasks for our desired counts); the rehearsal does the same,
    so one slow start under load is not a failed deployment, and a task that never starts is."""
    lines: list[str] = []
    rehearsal = Rehearsal(
        _shown(env_runs["dev"]), image=pushed_image, engine=engine, log=lines.append
    )
    spec = rehearsal.specs["catalog"]
    name = f"rehearsal-replaced-{uuid.uuid4().hex[:8]}"
    launched: list[str] = []

    def launch(entry_point: str) -> None:
        engine.run("rm", "--force", "--time", "1", name, check=False)
        engine.run(
            "run", "--detach", "--name", name, *engine.limit_args,
            "--health-cmd", json.dumps(["true"]), "--health-interval", "disable",
            "--entrypoint", json.dumps(["sh", "-c", entry_point]), pushed_image,
        )  # fmt: skip
        launched.append(entry_point)

    try:
        launch("echo cannot reach the database; exit 1")
        rehearsal._healthy(name, spec, replace=lambda: launch("exec sleep 120"))
        assert launched == ["echo cannot reach the database; exit 1", "exec sleep 120"]
        assert rehearsal.failed_tasks == {"catalog": 1}
        assert any(
            "exited 1 at start-up" in line and "cannot reach the database" in line for line in lines
        ), lines

        launched.clear()
        rehearsal.failed_tasks.clear()
        launch("exit 3")
        with pytest.raises(RehearsalError, match=r"3 failed tasks.*circuit breaker allows \(3\)"):
            rehearsal._healthy(name, spec, replace=lambda: launch("exit 3"))
        assert len(launched) == 3
    finally:
        engine.run("rm", "--force", "--time", "1", name, check=False)
