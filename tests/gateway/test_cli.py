"""The command line, the configuration layers and the process as `make run` starts it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from colonnade.gateway.__main__ import load_config, parse_args
from colonnade.gateway.backend import BackendConfigError, BackendMap
from colonnade.gateway.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
CATALOG_SET = REPO / "services/colonnade/descriptors/colonnade.binpb"


def test_flags_override_env_override_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "gw.toml"
    cfg_file.write_text(
        'descriptors = ["a.binpb"]\nport = 1000\nstrict = true\ndefault_timeout = 5\n'
        '[backends]\n"pkg.v1" = "h:1"\n'
    )
    env = {
        "COLONNADE_GATEWAY_PORT": "2000",
        "COLONNADE_GATEWAY_CORS_ORIGINS": "https://a,https://b",
    }
    cfg = load_config(parse_args(["--config", str(cfg_file)]), env)
    assert cfg.port == 2000 and cfg.strict is True and cfg.default_timeout == 5.0
    assert cfg.backends == ["pkg.v1=h:1"] and cfg.descriptors == ["a.binpb"]
    assert cfg.cors_origins == ["https://a", "https://b"]
    cfg = load_config(parse_args(["--config", str(cfg_file), "--port", "3000"]), env)
    assert cfg.port == 3000


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--descriptors", "x"], {}, "backends: at least one"),
        (["--descriptors", "x", "--backend", "a=b"], {"COLONNADE_GATEWAY_PORT": "http"}, "port"),
        (["--descriptors", "x", "--backend", "a=b"], {"COLONNADE_GATEWAY_NOPE": "1"}, "NOPE"),
    ],
)
def test_config_errors_name_the_setting(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(parse_args(argv), env)


def test_descriptors_default_to_the_packaged_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from colonnade.gateway import config

    cfg = load_config(parse_args(["--backend", "a=b:1"]), {})
    assert cfg.descriptors == [str(config.PACKAGED_DESCRIPTORS)]
    monkeypatch.setattr(config, "PACKAGED_DESCRIPTORS", Path("/nonexistent/colonnade.binpb"))
    with pytest.raises(ConfigError, match="descriptors: at least one"):
        load_config(parse_args(["--backend", "a=b:1"]), {})


def test_backend_map_exact_then_package_then_default() -> None:
    m = BackendMap.parse(["a.v1.Svc=h:1", "a.v1=h:2", "a=h:3", "*=h:4"])
    assert m.target("a.v1.Svc") == "h:1"
    assert m.target("a.v1.Other") == "h:2"
    assert m.target("a.v2.X") == "h:3"
    assert m.target("b.X") == "h:4"
    with pytest.raises(BackendConfigError, match="SERVICE=HOST:PORT"):
        BackendMap.parse(["no-equals"])


def test_grpc_client_setting_from_every_layer(tmp_path: Path) -> None:
    base = ["--descriptors", "x", "--backend", "a=b:1"]
    assert load_config(parse_args(base), {}).grpc_client == "native"  # the default
    cfg_file = tmp_path / "gw.toml"
    cfg_file.write_text('grpc_client = "grpcio"\n')
    assert load_config(parse_args([*base, "--config", str(cfg_file)]), {}).grpc_client == "grpcio"
    env = {"COLONNADE_GATEWAY_GRPC_CLIENT": "grpcio"}
    assert load_config(parse_args(base), env).grpc_client == "grpcio"
    args = parse_args([*base, "--grpc-client", "native"])
    assert load_config(args, env).grpc_client == "native"  # flags win


def test_unknown_grpc_client_names_the_setting() -> None:
    env = {"COLONNADE_GATEWAY_GRPC_CLIENT": "h2"}
    with pytest.raises(ConfigError, match="grpc_client: 'h2' is not one of native, grpcio"):
        load_config(parse_args(["--descriptors", "x", "--backend", "a=b:1"]), env)
    with pytest.raises(SystemExit):  # argparse refuses it on the command line
        parse_args(["--grpc-client", "h2"])


def test_bad_descriptor_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.binpb"
    bad.write_bytes(b"\xff\xff not a descriptor set")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--descriptors",
            str(bad),
            "--backend",
            "*=h:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not a binary FileDescriptorSet" in proc.stderr


def test_unmapped_service_exits_2() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--descriptors",
            str(CATALOG_SET),
            "--backend",
            "other.v1=127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no backend for colonnade.catalog.v1.CatalogService" in proc.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_process_serves_and_stops_on_sigterm(workers: int) -> None:
    from colonnade.devstack.ports import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--descriptors",
            str(CATALOG_SET),
            "--backend",
            f"colonnade.catalog.v1.CatalogService=127.0.0.1:{free_port()}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")))  # type: ignore[union-attr]
    reader.start()

    def listening() -> list[dict[str, object]]:
        return [json.loads(x) for x in list(lines) if b'"message":"gateway listening"' in x]

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if len(listening()) < workers:  # every worker up before SIGTERM
                    raise OSError("not every worker is listening yet")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)
    out = b"".join(lines)
    assert proc.returncode == 0, out
    # --workers N: N processes on the same port (SO_REUSEPORT), all stopped by one SIGTERM
    assert len({entry["pid"] for entry in listening()}) == workers, out
    assert {entry["address"] for entry in listening()} == {f"http://127.0.0.1:{port}"}
    assert out.count(b'"message":"gateway stopping"') == workers, out
