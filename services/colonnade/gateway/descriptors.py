"""Loading FileDescriptorSets into a private descriptor pool.

The gateway keeps its own `DescriptorPool` so that the descriptor sets it serves never clash
with the generated modules imported in the same process (tests run servicers in-process).
The well-known types, `google.rpc.Status` and its detail messages and `google.api.HttpBody`
are always added, so error details and `Any` values resolve even when a descriptor set was
built without them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from colonnade.gateway.errors import DescriptorError

__all__ = ["DescriptorError", "Registry", "build_registry", "load_registry", "read_descriptor_set"]

# Modules whose files are always present in the gateway's pool.
_BUILTIN_MODULES = (
    "google.protobuf.any_pb2",
    "google.protobuf.duration_pb2",
    "google.protobuf.empty_pb2",
    "google.protobuf.field_mask_pb2",
    "google.protobuf.struct_pb2",
    "google.protobuf.timestamp_pb2",
    "google.protobuf.wrappers_pb2",
    "google.protobuf.descriptor_pb2",
    "google.rpc.code_pb2",
    "google.rpc.status_pb2",
    "google.rpc.error_details_pb2",
    "google.api.httpbody_pb2",
    "google.api.http_pb2",
    "google.api.annotations_pb2",
    "grpc_health.v1.health_pb2",
)


@dataclass
class Registry:
    """The gateway's descriptor pool plus cached message classes."""

    pool: descriptor_pool.DescriptorPool
    file_names: list[str] = field(default_factory=list)
    _classes: dict[str, type[Message]] = field(default_factory=dict)

    def message_class(self, desc: descriptor.Descriptor) -> type[Message]:
        """The concrete message class for a descriptor of this pool (cached)."""
        cls = self._classes.get(desc.full_name)
        if cls is None:
            cls = message_factory.GetMessageClass(desc)
            self._classes[desc.full_name] = cls
        return cls

    def message_class_by_name(self, full_name: str) -> type[Message]:
        """The message class for a fully qualified message name; KeyError when unknown."""
        return self.message_class(self.pool.FindMessageTypeByName(full_name))

    def services(self) -> list[descriptor.ServiceDescriptor]:
        """Every service declared in the loaded (user) descriptor files, in file order."""
        out: list[descriptor.ServiceDescriptor] = []
        for name in self.file_names:
            fd = self.pool.FindFileByName(name)
            out.extend(fd.services_by_name.values())
        return out


def _builtin_files() -> list[descriptor_pb2.FileDescriptorProto]:
    import importlib

    files = []
    for mod_name in _BUILTIN_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:  # pragma: no cover - optional packages
            continue
        files.append(descriptor_pb2.FileDescriptorProto.FromString(mod.DESCRIPTOR.serialized_pb))
    return files


def read_descriptor_set(path: str | Path) -> descriptor_pb2.FileDescriptorSet:
    """Reads a binary FileDescriptorSet (`protoc --descriptor_set_out`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DescriptorError(f"cannot read descriptor set {path}: {exc}") from exc
    try:
        return descriptor_pb2.FileDescriptorSet.FromString(data)
    except Exception as exc:
        raise DescriptorError(f"{path} is not a binary FileDescriptorSet: {exc}") from exc


def build_registry(sets: Iterable[descriptor_pb2.FileDescriptorSet]) -> Registry:
    """Adds every file of the given sets (and the built-in files) to a fresh pool.

    Files are added in dependency order; a file named twice keeps its first definition,
    the user's sets winning over the built-in copies.
    """
    by_name: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    user_names: list[str] = []
    for fds in sets:
        for f in fds.file:
            if f.name not in by_name:
                by_name[f.name] = f
                user_names.append(f.name)
    for f in _builtin_files():
        by_name.setdefault(f.name, f)

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in added:
            return
        if name in chain:
            raise DescriptorError(f"import cycle: {' -> '.join((*chain, name))}")
        f = by_name.get(name)
        if f is None:
            raise DescriptorError(
                f"{chain[-1] if chain else '?'} imports {name}, which is in no descriptor set "
                "(build it with protoc --include_imports)"
            )
        for dep in f.dependency:
            add(dep, (*chain, name))
        try:
            pool.Add(f)
        except Exception as exc:
            raise DescriptorError(f"cannot add {name}: {exc}") from exc
        added.add(name)

    for name in by_name:
        add(name, ())
    return Registry(pool=pool, file_names=user_names)


def load_registry(paths: Iterable[str | Path]) -> Registry:
    """Reads descriptor set files and builds the gateway's registry from them."""
    return build_registry(read_descriptor_set(p) for p in paths)
