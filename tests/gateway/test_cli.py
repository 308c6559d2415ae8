"""The command line, the configuration layers and the process as `make run` starts it."""

from __future__ import annotations

import subprocess
import sys
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


def test_process_serves_and_stops_on_sigterm() -> None:
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert b'"message":"gateway listening"' in out
