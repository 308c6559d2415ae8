"""A real image registry on loopback (Debian's ``docker-registry``, the CNCF distribution).

The release test pushes to it and the deploy rehearsal pulls from it, as ECS pulls from ECR.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from colonnade_tools.devstack.ports import free_port

REGISTRY_HINT = "docker-registry is not installed (Debian: `apt-get install docker-registry`)"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


class LocalRegistry:
    """``docker-registry serve`` on ``127.0.0.1:<port>`` with its storage in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError(REGISTRY_HINT)
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.json"  # YAML is a superset of JSON
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "warn"},
                    "storage": {"filesystem": {"rootdirectory": str(self.directory / "data")}},
                    "http": {"addr": self.host},
                }
            )
        )
        # The child keeps its own copy of the descriptor; ours is closed once it has started.
        with (self.directory / "registry.log").open("wb") as log:
            self._process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.directory / "registry.log").read_text()
                raise RuntimeError(f"docker-registry did not start: {log_text}")
            time.sleep(0.1)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for ``repository:reference``, or None."""
        request = urllib.request.Request(
            f"http://{self.host}/v2/{repository}/manifests/{reference}",
            method="HEAD",
            headers={"Accept": MANIFEST_TYPES},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                digest = response.headers.get("Docker-Content-Digest")
                return str(digest) if digest else None
        except urllib.error.HTTPError as exc:
            exc.close()
            return None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
