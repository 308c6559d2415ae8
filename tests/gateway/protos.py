"""Compiles the gateway's conformance proto with grpc_tools.protoc for the tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).parent / "proto"
REPO_PROTO = Path(__file__).resolve().parents[2] / "proto"
CONFORMANCE = "conformance/v1/conformance.proto"


def compile_conformance(out_dir: Path) -> Path:
    """Generates conformance_pb2(_grpc) into out_dir (put on sys.path) and a descriptor set.

    Returns the descriptor set's path.
    """
    import google.api
    import grpc_tools
    from grpc_tools import protoc

    googleapis = Path(next(iter(google.api.__path__))).parent.parent
    includes = [PROTO_ROOT, REPO_PROTO, googleapis, Path(grpc_tools.__file__).parent / "_proto"]
    descriptor_set = out_dir / "conformance.binpb"
    args = [
        "protoc",
        *(f"-I{p}" for p in includes),
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={descriptor_set}",
        CONFORMANCE,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"protoc failed ({rc}): {' '.join(args)}")
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    importlib.invalidate_caches()
    return descriptor_set
