"""Release: the image goes to a real registry and the environment's data pins its digest."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from colonnade_tools.containers import Engine
from colonnade_tools.registry import LocalRegistry
from colonnade_tools.release import (
    RDS_BUNDLE,
    ReleaseError,
    check_rds_bundle,
    release,
    write_digests,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    server = LocalRegistry(tmp_path_factory.mktemp("registry"))
    server.start()
    yield server
    server.stop()


def _bundle(path: Path, unit: str, count: int = 2) -> Path:
    path.write_bytes(
        b"".join(trustme.CA(organization_unit_name=unit).cert_pem.bytes() for _ in range(count))
    )
    return path


def _args(
    repository: str, image_file: Path, bundle: Path | None, **extra: object
) -> argparse.Namespace:
    return argparse.Namespace(
        env="dev",
        repository=repository,
        image_file=image_file,
        services="catalog,gateway,migrate",
        db_ca_bundle=bundle,
        allow_dirty=False,
        **extra,
    )


def test_bundle_check_accepts_rds_cas_only(tmp_path: Path) -> None:
    assert check_rds_bundle(_bundle(tmp_path / "rds.pem", "Amazon RDS", 3)) == 3
    with pytest.raises(ReleaseError, match="is not an Amazon RDS CA certificate"):
        check_rds_bundle(_bundle(tmp_path / "other.pem", "Some Other CA"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ReleaseError, match="not a PEM certificate bundle"):
        check_rds_bundle(tmp_path / "junk.pem")


def test_digests_are_merged_into_the_image_file(tmp_path: Path) -> None:
    image_file = tmp_path / "images.json"
    image_file.write_text(json.dumps({"image_digests": {"orders": "sha256:" + "1" * 64}}))
    written = write_digests(image_file, ["catalog", "gateway"], "sha256:" + "2" * 64)
    assert written == {
        "catalog": "sha256:" + "2" * 64,
        "gateway": "sha256:" + "2" * 64,
        "orders": "sha256:" + "1" * 64,
    }
    assert json.loads(image_file.read_text())["image_digests"] == written


def test_a_service_left_on_a_tag_is_named_and_nothing_written(tmp_path: Path) -> None:
    image_file = tmp_path / "images.json"
    before = json.dumps({"image_digests": {"catalog": "0.1.0", "migrate": "0.1.0"}})
    image_file.write_text(before)
    with pytest.raises(ReleaseError, match=r"migrate still run a tag.*--services catalog,migrate"):
        write_digests(image_file, ["catalog"], "sha256:" + "2" * 64)
    assert image_file.read_text() == before


def test_release_pushes_and_pins_the_digest(
    engine: Engine, clone: Path, registry: LocalRegistry, tmp_path: Path
) -> None:
    bundle = _bundle(tmp_path / "rds.pem", "Amazon RDS")
    image_file = tmp_path / "images.json"
    repository = f"{registry.host}/colonnade"
    remote, digest = release(_args(repository, image_file, bundle), engine, root=clone)

    # The registry holds that digest under the revision tag; the file pins it per service.
    revision = remote.rsplit(":", 1)[1]
    assert registry.manifest_digest("colonnade", revision) == digest
    assert json.loads(image_file.read_text())["image_digests"] == {
        "catalog": digest,
        "gateway": digest,
        "migrate": digest,
    }
    # What a task pulls by digest carries the RDS bundle the release was given.
    pulled = f"{repository}@{digest}"
    tls = ["--tls-verify=false"] if engine.name == "podman" else []
    engine.run("pull", *tls, pulled, timeout=600)
    carried = engine.run(
        "run", "--rm", *engine.limit_args, pulled, "cat", "/etc/colonnade/certs/rds-ca-bundle.pem"
    ).stdout
    assert carried == bundle.read_text()
    engine.run("rmi", "--force", pulled, check=False)


def test_release_refuses_a_bundle_that_is_not_rds(
    engine: Engine, clone: Path, registry: LocalRegistry, tmp_path: Path
) -> None:
    bundle = _bundle(tmp_path / "wrong.pem", "Not RDS")
    image_file = tmp_path / "images.json"
    in_context = clone / RDS_BUNDLE
    before = in_context.read_bytes() if in_context.exists() else None
    with pytest.raises(ReleaseError, match="is not an Amazon RDS CA certificate"):
        release(_args(f"{registry.host}/refused", image_file, bundle), engine, root=clone)
    assert not image_file.exists()
    assert registry.manifest_digest("refused", "latest") is None
    assert (in_context.read_bytes() if in_context.exists() else None) == before


def test_release_refuses_uncommitted_changes(
    engine: Engine, clone: Path, registry: LocalRegistry, tmp_path: Path
) -> None:
    readme = clone / "README.md"
    original = readme.read_text()
    readme.write_text(original + "\nuncommitted\n")
    try:
        with pytest.raises(ReleaseError, match="uncommitted changes"):
            release(
                _args(f"{registry.host}/dirty", tmp_path / "images.json", None), engine, root=clone
            )
    finally:
        readme.write_text(original)
