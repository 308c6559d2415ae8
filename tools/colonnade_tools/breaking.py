"""The breaking-change gate: every published proto package against its released descriptors.

``proto/released/<package>.binpb`` holds the descriptors of each published version as it was
released (a ``FileDescriptorSet`` of that package's files). :func:`breaking_changes` compares
the current descriptors with them and names every change that breaks clients of that version,
on the wire or in JSON, with the rules ``buf breaking`` (FILE and WIRE_JSON) cares about:

* a service, RPC, message or enum removed; an RPC's request or response type or streaming
  changed; an RPC's ``google.api.http`` rule changed;
* a field removed without its number and name ``reserved``; its type, message or enum type,
  or cardinality (repeated / optional) changed; its name or ``json_name`` changed (JSON
  breaking: the key clients send and read);
* an enum value removed without ``reserved``, or renamed (JSON uses the name).

Additions (new services, RPCs, messages, fields, enum values) pass. A breaking change belongs
in a new ``v<N+1>`` package served side by side. ``python -m colonnade_tools.breaking`` runs
the gate; ``--release PACKAGE`` records a package's current descriptors as released.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "proto" / "released"
CURRENT = ROOT / "services" / "colonnade" / "descriptors" / "colonnade.binpb"

FD = descriptor_pb2.FieldDescriptorProto
_HTTP_FIELD = 72295728  # google.api.http, an extension of MethodOptions


def load(path: Path) -> descriptor_pb2.FileDescriptorSet:
    """A serialized ``FileDescriptorSet``."""
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def package_files(
    fds: descriptor_pb2.FileDescriptorSet, package: str
) -> list[descriptor_pb2.FileDescriptorProto]:
    """The files of ``package`` in a set."""
    return [f for f in fds.file if f.package == package]


def _messages(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> dict[str, descriptor_pb2.DescriptorProto]:
    out: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(prefix: str, messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for m in messages:
            name = f"{prefix}.{m.name}"
            out[name] = m
            walk(name, m.nested_type)

    for f in files:
        walk(f.package, f.message_type)
    return out


def _enums(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> dict[str, descriptor_pb2.EnumDescriptorProto]:
    out: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
    for f in files:
        for e in f.enum_type:
            out[f"{f.package}.{e.name}"] = e
        for name, m in _messages([f]).items():
            for e in m.enum_type:
                out[f"{name}.{e.name}"] = e
    return out


def _services(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> dict[str, descriptor_pb2.ServiceDescriptorProto]:
    return {f"{f.package}.{s.name}": s for f in files for s in f.service}


def _http_rule(method: descriptor_pb2.MethodDescriptorProto) -> bytes:
    """The method's ``google.api.http`` option as bytes (empty when it has none).

    Read from the options' serialized form, so the gate needs no googleapis import to
    compare rules: equal rules serialize equally (deterministic serialization).
    """
    options = descriptor_pb2.MethodOptions()
    options.CopyFrom(method.options)
    unknown = options.SerializeToString(deterministic=True)
    # The extension is unknown to a bare MethodOptions: find field 72295728 in the bytes.
    return bytes(_field_bytes(unknown, _HTTP_FIELD))


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _field_bytes(data: bytes, number: int) -> bytes:
    """Every occurrence of length-delimited field ``number`` in a serialized message."""
    pos, found = 0, b""
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(data, pos)
            if key >> 3 == number:
                found += data[pos : pos + size]
            pos += size
        else:  # groups: not used in proto3
            raise ValueError(f"unexpected wire type {wire}")
    return found


def _reserved(message: descriptor_pb2.DescriptorProto, field: FD) -> bool:
    number = any(r.start <= field.number < r.end for r in message.reserved_range)
    return number and field.name in message.reserved_name


def _cardinality(field: FD) -> str:
    if field.label == FD.LABEL_REPEATED:
        return "repeated"
    return "optional" if field.proto3_optional else "singular"


def _compare_fields(
    name: str, old: descriptor_pb2.DescriptorProto, new: descriptor_pb2.DescriptorProto
) -> Iterator[str]:
    current = {f.number: f for f in new.field}
    for field in old.field:
        where = f"{name}.{field.name} (field {field.number})"
        now = current.get(field.number)
        if now is None:
            if not _reserved(new, field):
                yield (
                    f"{where} was removed without reserving its number and name "
                    f'(add `reserved {field.number}; reserved "{field.name}";`)'
                )
            continue
        if now.name != field.name:
            yield f"{where} was renamed to {now.name!r}: JSON clients use the name"
        if now.json_name != field.json_name:
            yield f"{where} changed its json_name from {field.json_name!r} to {now.json_name!r}"
        if (now.type, now.type_name) != (field.type, field.type_name):
            was = field.type_name or FD.Type.Name(field.type)
            is_ = now.type_name or FD.Type.Name(now.type)
            yield f"{where} changed type from {was} to {is_}"
        if _cardinality(now) != _cardinality(field):
            yield f"{where} changed from {_cardinality(field)} to {_cardinality(now)}"


def breaking_changes(
    released: descriptor_pb2.FileDescriptorSet,
    current: descriptor_pb2.FileDescriptorSet,
    package: str,
) -> list[str]:
    """Every change of ``package`` from ``released`` to ``current`` that breaks its clients."""
    old_files, new_files = package_files(released, package), package_files(current, package)
    if not new_files:
        return [f"package {package} was removed"]
    problems: list[str] = []
    old_services, new_services = _services(old_files), _services(new_files)
    for name, service in old_services.items():
        now = new_services.get(name)
        if now is None:
            problems.append(f"service {name} was removed")
            continue
        methods = {m.name: m for m in now.method}
        for method in service.method:
            where = f"rpc {name}.{method.name}"
            m = methods.get(method.name)
            if m is None:
                problems.append(f"{where} was removed")
                continue
            if (m.input_type, m.output_type) != (method.input_type, method.output_type):
                problems.append(
                    f"{where} changed its types from ({method.input_type}) returns "
                    f"({method.output_type}) to ({m.input_type}) returns ({m.output_type})"
                )
            if (m.client_streaming, m.server_streaming) != (
                method.client_streaming,
                method.server_streaming,
            ):
                problems.append(f"{where} changed streaming")
            if _http_rule(m) != _http_rule(method):
                problems.append(f"{where} changed its google.api.http rule")
    old_messages, new_messages = _messages(old_files), _messages(new_files)
    for name, message in old_messages.items():
        now_message = new_messages.get(name)
        if now_message is None:
            problems.append(f"message {name} was removed")
            continue
        problems.extend(_compare_fields(name, message, now_message))
    old_enums, new_enums = _enums(old_files), _enums(new_files)
    for name, enum in old_enums.items():
        now_enum = new_enums.get(name)
        if now_enum is None:
            problems.append(f"enum {name} was removed")
            continue
        values = {v.number: v for v in now_enum.value}
        reserved = set(now_enum.reserved_name)
        for value in enum.value:
            where = f"enum value {name}.{value.name} ({value.number})"
            now_value = values.get(value.number)
            if now_value is None:
                if value.name not in reserved:
                    problems.append(f"{where} was removed without reserving it")
            elif now_value.name != value.name:
                problems.append(f"{where} was renamed to {now_value.name!r}: JSON uses the name")
    return problems


def build_descriptor_set(proto_dir: Path, out: Path) -> descriptor_pb2.FileDescriptorSet:
    """Compile every ``.proto`` under ``proto_dir`` (outside ``released/``) into ``out``.

    The same include path as ``scripts/gen.py``: googleapis' protos from the
    googleapis-common-protos wheel, protobuf's own from grpcio-tools.
    """
    import google.api
    from grpc_tools import protoc

    googleapis = Path(next(iter(google.api.__path__))).parent.parent
    well_known = Path(protoc.__file__).parent / "_proto"
    files = sorted(
        str(p.relative_to(proto_dir))
        for p in proto_dir.rglob("*.proto")
        if "released" not in p.relative_to(proto_dir).parts
    )
    code = protoc.main(
        [
            "protoc",
            f"-I{proto_dir}",
            f"-I{googleapis}",
            f"-I{well_known}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *files,
        ]
    )
    if code != 0:
        raise ValueError(f"protoc failed on {proto_dir} (exit {code})")
    return load(out)


def released_packages(released_dir: Path = RELEASED) -> dict[str, Path]:
    """Released package name → its descriptor file."""
    return {p.name.removesuffix(".binpb"): p for p in sorted(released_dir.glob("*.binpb"))}


def gate(current_path: Path = CURRENT, released_dir: Path = RELEASED) -> list[str]:
    """Every breaking change of every released package, or ``[]``."""
    current = load(current_path)
    problems: list[str] = []
    for package, path in released_packages(released_dir).items():
        problems.extend(breaking_changes(load(path), current, package))
    return problems


def release(package: str, current_path: Path = CURRENT, released_dir: Path = RELEASED) -> Path:
    """Record ``package``'s current descriptors as released (its files only, no source info)."""
    files = package_files(load(current_path), package)
    if not files:
        raise SystemExit(f"no package {package} in {current_path}")
    out = descriptor_pb2.FileDescriptorSet()
    for f in files:
        copy = out.file.add()
        copy.CopyFrom(f)
        copy.ClearField("source_code_info")
    released_dir.mkdir(parents=True, exist_ok=True)
    path = released_dir / f"{package}.binpb"
    path.write_bytes(out.SerializeToString(deterministic=True))
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m colonnade_tools.breaking [--release PACKAGE]``: exit 1 on a breaking change."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", metavar="PACKAGE", action="append", default=[])
    args = parser.parse_args(argv)
    for package in args.release:
        print(f"released {package}: {release(package).relative_to(ROOT)}")
    problems = gate()
    for problem in problems:
        print(f"breaking: {problem}", file=sys.stderr)
    if not problems:
        print(f"no breaking change in {', '.join(released_packages()) or 'no released package'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
