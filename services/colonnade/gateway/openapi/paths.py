"""OpenAPI paths from path templates, and the query parameters a route reads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf import descriptor

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.openapi.model import Format
from colonnade.gateway.openapi.protodoc import resource_patterns
from colonnade.gateway.openapi.schemas import WKT
from colonnade.gateway.routing import Route


def _segments(source: str) -> tuple[list[str | tuple[str, list[str]]], str]:
    """A validated template as [literal | (field_path, sub_segments)] and its verb."""
    depth, parts, cur = 0, [], ""
    for ch in source[1:]:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "/" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    verb = ""
    last = parts[-1]
    colon = last.find(":", last.rfind("}") + 1)  # the first ':' outside braces: `:a:b` is one verb
    if colon >= 0:
        verb, parts[-1] = last[colon + 1 :], last[:colon]
    out: list[str | tuple[str, list[str]]] = []
    for part in parts:
        if part.startswith("{"):
            path, _, sub = part[1:-1].partition("=")
            out.append((path, sub.split("/") if sub else ["*"]))
        else:
            out.append(part)
    return out, verb


@dataclass
class PathParam:
    name: str  # as it appears in the OpenAPI path
    field_path: str  # proto field path it fills (dotted)
    chain: list[descriptor.FieldDescriptor]
    pattern: str = ""  # swagger2: the variable's own template as a regex
    greedy: bool = False


def _pattern_names(subs: list[str], patterns: list[str]) -> list[str] | None:
    """Variable names of the resource pattern whose shape matches ``subs``, if any."""
    for pattern in patterns:
        parts = pattern.split("/")
        if len(parts) == len(subs) and all(
            (s == "*" and p.startswith("{")) or s == p for s, p in zip(subs, parts, strict=True)
        ):
            return [p[1:-1] for p in parts if p.startswith("{")]
    return None


def render_path(
    route: Route, fmt: Format, registry: Registry, shapes: dict[str, list[str]] | None = None
) -> tuple[str, list[PathParam]]:
    """The OpenAPI path of a route and its parameters (see the module docstring).

    Expanded variables are named after the field's ``google.api.resource`` pattern
    (``products/{product}``) when it has one. ``shapes`` keeps the names of paths already
    rendered, so paths that differ only in parameter names (which OpenAPI and API Gateway
    treat as one path) come out identical.
    """
    segments, verb = _segments(route.template.source)
    chains = {".".join(f.name for f in chain): chain for chain in route.path_fields}
    rendered: list[str] = []
    params: list[PathParam] = []
    anonymous = 0
    for seg in segments:
        if seg in ("*", "**"):
            # A wildcard outside any variable: matched by the gateway, bound to no field.
            name = "wildcard" if anonymous == 0 else f"wildcard_{anonymous}"
            anonymous += 1
            params.append(PathParam(name, "", [], greedy=seg == "**"))
            rendered.append("{" + name + ("+" if seg == "**" and fmt == "aws" else "") + "}")
            continue
        if isinstance(seg, str):
            rendered.append(seg)
            continue
        field_path, subs = seg
        chain = chains[field_path]
        base = field_path.replace(".", "_") if fmt != "swagger2" else field_path
        if fmt == "swagger2" or subs == ["*"]:
            pattern = "/".join(
                "[^/]+" if s == "*" else ".+" if s == "**" else re.escape(s) for s in subs
            )
            greedy = "**" in subs
            params.append(
                PathParam(base, field_path, chain, "" if subs == ["*"] else pattern, greedy)
            )
            rendered.append("{" + base + ("+" if greedy and fmt == "aws" else "") + "}")
            continue
        names = _pattern_names(subs, resource_patterns(chain[-1], registry)) or []
        stars = 0
        for sub in subs:
            if sub in ("*", "**"):
                name = (
                    names[stars]
                    if stars < len(names)
                    else (base if stars == 0 else f"{base}_{stars}")
                )
                stars += 1
                params.append(PathParam(name, field_path, chain, greedy=sub == "**"))
                rendered.append("{" + name + ("+" if sub == "**" and fmt == "aws" else "") + "}")
            else:
                rendered.append(sub)
    if shapes is not None and params:
        shape = "/".join(re.sub(r"\{[^}]*\}", "{}", r) for r in rendered) + verb
        known = shapes.setdefault(shape, [p.name for p in params])
        for param, name in zip(params, known, strict=True):
            if param.name != name:
                rendered = [
                    r.replace("{" + param.name, "{" + name, 1)
                    if r.startswith("{" + param.name)
                    else r
                    for r in rendered
                ]
                param.name = name
    return "/" + "/".join(rendered) + (f":{verb}" if verb else ""), params


def query_fields(
    msg: descriptor.Descriptor, prefix: str, bound: set[str], depth: int
) -> Iterator[tuple[str, descriptor.FieldDescriptor]]:
    """(dotted lowerCamel name, field) of every query-settable leaf, as the gateway reads them."""
    for fd in msg.fields:
        proto_path = f"{prefix}{fd.name}"
        if proto_path in bound:
            continue
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            continue  # name[key]=value entries: Swagger 2 and API Gateway cannot describe them
        message = fd.message_type
        if message is not None and message.full_name not in WKT:
            if fd.is_repeated or depth >= 3:
                continue  # repeated messages cannot be query parameters (grpc-gateway #492)
            inner_bound = {b for b in bound if b.startswith(proto_path + ".")}
            for name, leaf in query_fields(message, proto_path + ".", inner_bound, depth + 1):
                yield f"{fd.json_name}.{name}", leaf
            continue
        if message is not None and message.full_name in (
            "google.protobuf.Struct",
            "google.protobuf.ListValue",
            "google.protobuf.Value",
            "google.protobuf.Any",
            "google.protobuf.Empty",
        ):
            continue
        yield fd.json_name, fd
