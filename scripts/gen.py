#!/usr/bin/env python3
"""Generate Python stubs and a descriptor set from ``proto/``.

One command for every consumer: ``make gen``, ``make run``, ``make test`` and
``pip install .`` (through ``setup.py``) all call :func:`generate`.

Outputs, all derived and never edited by hand:

* ``services/colonnade/<domain>/v<N>/*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``
  importable as ``colonnade.<domain>.v<N>`` (the proto package decides the path);
* ``services/colonnade/descriptors/colonnade.binpb``: a ``FileDescriptorSet``
  with imports and source info, read by the REST gateway and the OpenAPI
  generator.

``google/api/*.proto``, ``google/type/*.proto`` and ``google/rpc/*.proto`` come
from the installed ``googleapis-common-protos`` wheel and ``google/protobuf``
from ``grpcio-tools``: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "services"
DESCRIPTOR_DIR = OUT_DIR / "colonnade" / "descriptors"
DESCRIPTOR_SET = DESCRIPTOR_DIR / "colonnade.binpb"
STAMP = DESCRIPTOR_DIR / ".inputs.sha256"


def _include_dirs() -> list[Path]:
    """Where protoc finds imports: our protos, googleapis' and protobuf's own."""
    import google.api  # googleapis-common-protos ships the .proto sources
    import grpc_tools

    googleapis_root = Path(next(iter(google.api.__path__))).parent.parent
    return [PROTO_DIR, googleapis_root, Path(grpc_tools.__file__).parent / "_proto"]


def _proto_files(proto_dir: Path = PROTO_DIR) -> list[Path]:
    return sorted(p for p in proto_dir.rglob("*.proto"))


def _inputs_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(PROTO_DIR)).encode())
        digest.update(path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _ensure_packages(files: list[Path]) -> None:
    """Create ``__init__.py`` in each generated package so setuptools and mypy see it."""
    for proto in files:
        package_dir = OUT_DIR / proto.relative_to(PROTO_DIR).parent
        for directory in [package_dir, *package_dir.parents]:
            if directory == OUT_DIR or OUT_DIR not in directory.parents:
                break
            init = directory / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated from proto/ by scripts/gen.py; do not edit."""\n')


def generate(force: bool = False) -> bool:
    """Run protoc when the protos changed; return True when it ran."""
    from grpc_tools import protoc

    files = _proto_files()
    if not files:
        raise SystemExit(f"no .proto files under {PROTO_DIR}")
    digest = _inputs_digest(files)
    if not force and DESCRIPTOR_SET.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return False

    DESCRIPTOR_DIR.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        *(f"-I{d}" for d in _include_dirs()),
        f"--python_out={OUT_DIR}",
        f"--pyi_out={OUT_DIR}",
        f"--grpc_python_out={OUT_DIR}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={DESCRIPTOR_SET}",
        *(str(f.relative_to(PROTO_DIR)) for f in files),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    _ensure_packages(files)
    (DESCRIPTOR_DIR / "__init__.py").touch()
    STAMP.write_text(digest)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="regenerate even if nothing changed")
    ns = parser.parse_args(argv)
    ran = generate(force=ns.force)
    print(
        f"gen: {'generated' if ran else 'up to date'}: {DESCRIPTOR_SET.relative_to(ROOT)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
