"""Configuration (config.py, __main__.py): defaults < file < environment < flags, one error
per bad setting naming it, the backend map, and the gRPC client setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from colonnade.gateway.__main__ import load_config, parse_args
from colonnade.gateway.backend import BackendConfigError, BackendMap
from colonnade.gateway.config import ConfigError


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
