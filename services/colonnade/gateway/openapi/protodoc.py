"""What the protos say besides the routes: comments, field behaviors, resource patterns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor, descriptor_pb2

from colonnade.gateway.descriptors import Registry


def comments(sets: Iterable[descriptor_pb2.FileDescriptorSet]) -> dict[str, str]:
    """Full name (message, field, enum, value, service, method) → its leading comment."""
    out: dict[str, str] = {}
    for fds in sets:
        for f in fds.file:
            by_path = {
                tuple(loc.path): loc.leading_comments.strip()
                for loc in f.source_code_info.location
                if loc.leading_comments.strip()
            }
            prefix = f.package + "." if f.package else ""
            for i, m in enumerate(f.message_type):
                _message_comments(m, (4, i), prefix, by_path, out)
            for i, e in enumerate(f.enum_type):
                _enum_comments(e, (5, i), prefix, by_path, out)
            for i, s in enumerate(f.service):
                out.setdefault(prefix + s.name, by_path.get((6, i), ""))
                for j, method in enumerate(s.method):
                    out.setdefault(f"{prefix}{s.name}.{method.name}", by_path.get((6, i, 2, j), ""))
    return {k: re.sub(r"\n +", "\n", v) for k, v in out.items() if v}


_Comments = dict[tuple[int, ...], str]


def _enum_comments(
    e: descriptor_pb2.EnumDescriptorProto,
    path: tuple[int, ...],
    scope: str,
    by_path: _Comments,
    out: dict[str, str],
) -> None:
    name = scope + e.name
    out.setdefault(name, by_path.get(path, ""))
    for i, v in enumerate(e.value):
        out.setdefault(f"{name}.{v.name}", by_path.get((*path, 2, i), ""))


def _message_comments(
    m: descriptor_pb2.DescriptorProto,
    path: tuple[int, ...],
    scope: str,
    by_path: _Comments,
    out: dict[str, str],
) -> None:
    name = scope + m.name
    out.setdefault(name, by_path.get(path, ""))
    for i, fd in enumerate(m.field):
        out.setdefault(f"{name}.{fd.name}", by_path.get((*path, 2, i), ""))
    for i, nested in enumerate(m.nested_type):
        _message_comments(nested, (*path, 3, i), name + ".", by_path, out)
    for i, e in enumerate(m.enum_type):
        _enum_comments(e, (*path, 4, i), name + ".", by_path, out)


def resource_patterns(fd: descriptor.FieldDescriptor, registry: Registry) -> list[str]:
    """The ``google.api.resource`` patterns a name-like field holds, if annotated."""
    options = descriptor_pb2.FieldOptions.FromString(fd.GetOptions().SerializeToString())
    reference = options.Extensions[resource_pb2.resource_reference]
    owner: descriptor.Descriptor | None = None
    if reference.type:
        for file_name in registry.file_names:
            top = registry.pool.FindFileByName(file_name).message_types_by_name.values()
            for msg in _messages(top):
                if _resource(msg).type == reference.type:
                    owner = msg
    elif _resource(fd.containing_type).name_field in ("", fd.name) and fd.name == "name":
        owner = fd.containing_type
    return list(_resource(owner).pattern) if owner is not None else []


def _resource(msg: descriptor.Descriptor | None) -> resource_pb2.ResourceDescriptor:
    if msg is None:
        return resource_pb2.ResourceDescriptor()
    options = descriptor_pb2.MessageOptions.FromString(msg.GetOptions().SerializeToString())
    return options.Extensions[resource_pb2.resource]


def _messages(messages: Iterable[descriptor.Descriptor]) -> Iterator[descriptor.Descriptor]:
    for msg in messages:
        yield msg
        yield from _messages(msg.nested_types)


def behaviors(fd: descriptor.FieldDescriptor) -> set[int]:
    options = descriptor_pb2.FieldOptions.FromString(fd.GetOptions().SerializeToString())
    return set(options.Extensions[field_behavior_pb2.field_behavior])
