"""``colonnade-healthcheck auto``: the image HEALTHCHECK picks the running process's probe."""

from __future__ import annotations

import pytest

from colonnade.runtime.healthcheck import auto_probe


@pytest.mark.parametrize(
    ("environ", "command", "expected"),
    [
        (
            {"GRPC_PORT": "50051"},
            "/opt/colonnade/bin/python colonnade-catalog",
            ["grpc", "127.0.0.1:50051"],
        ),
        ({"GRPC_PORT": "6000"}, "", ["grpc", "127.0.0.1:6000"]),
        (
            {},
            "/opt/colonnade/bin/python /opt/colonnade/bin/colonnade-catalog",
            ["grpc", "127.0.0.1:50051"],
        ),
        ({"COLONNADE_GATEWAY_PORT": "9000"}, "", ["http", "http://127.0.0.1:9000/readyz"]),
        # ECS's init process (initProcessEnabled) runs the command as its child
        ({}, "/sbin/docker-init -- colonnade-gateway", ["http", "http://127.0.0.1:8080/readyz"]),
        ({}, "python -m colonnade.gateway --port 8080", ["http", "http://127.0.0.1:8080/readyz"]),
    ],
)
def test_auto_probe_follows_the_process(
    environ: dict[str, str], command: str, expected: list[str]
) -> None:
    assert auto_probe(environ, command) == expected
