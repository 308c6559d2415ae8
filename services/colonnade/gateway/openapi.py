"""OpenAPI documents from descriptor sets, faithful to what the gateway serves.

One model (the gateway's routes, from `google.api.http` rules) and three renderings:

* ``openapi3``: OpenAPI 3.0.3, the main document. Slash-containing path variables are
  expanded into whole segments (``{name=products/*}`` → ``/v1/products/{name}``), as
  grpc-gateway's openapiv3 output and AWS do, so generic OpenAPI tooling can call them.
* ``swagger2``: Swagger 2.0 close to grpc-gateway's ``protoc-gen-openapiv2``: legacy model
  names (``v1Product``, ``rpcStatus``), ``/v1/{name}`` with a ``pattern``, ``default``
  error responses.
* ``aws``: the 3.0 document made importable by API Gateway REST APIs (see
  :func:`aws_import_problems` for the rules it obeys) with an ``x-amazon-apigateway-integration``
  (``http_proxy`` over a VPC link) on every operation, request validators, API key (and
  optionally Cognito) security per operation, and gateway responses shaped like
  ``google.rpc.Status``.

Schemas follow proto3 JSON as the gateway writes it: lowerCamel names, 64-bit integers as
strings, enums as names, well-known types in their JSON forms, unset message fields as
``null``. ``google.api.field_behavior`` gives ``required`` (REQUIRED) and ``readOnly``
(OUTPUT_ONLY); proto comments give descriptions.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor, descriptor_pb2

from colonnade.gateway.descriptors import Registry, build_registry, read_descriptor_set
from colonnade.gateway.routing import Route, load_routes

Format = Literal["openapi3", "swagger2", "aws"]
FORMATS: tuple[Format, ...] = ("openapi3", "swagger2", "aws")
FD = descriptor.FieldDescriptor

STATUS = "google.rpc.Status"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad request: a field is missing or malformed (details name it)",
    401: "Unauthenticated",
    403: "Permission denied",
    404: "Not found",
    409: "Conflict: already exists, or aborted (stale etag)",
    413: "Request body too large",
    415: "Unsupported content type",
    429: "Too many requests",
    500: "Internal error",
    503: "Backend unavailable",
    504: "Deadline exceeded",
}

# Well-known types → their proto3 JSON schema.
_WKT: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "description": "Seconds with an 's' suffix, e.g. 1.5s.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated lowerCamel field paths, e.g. title,price.units.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": {}},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.DoubleValue": {"type": "number", "format": "double"},
    "google.protobuf.FloatValue": {"type": "number", "format": "float"},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64"},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int64"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": {},
        "description": "A message of any type; `@type` names it.",
    },
}

_SCALARS: dict[int, dict[str, Any]] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT64: {"type": "string", "format": "int64"},
    FD.TYPE_SINT64: {"type": "string", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FD.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FD.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64"},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte"},
}


@dataclass
class Options:
    """What the descriptors cannot say."""

    title: str = "Colonnade API"
    version: str = "v1"
    description: str = ""
    servers: list[str] = field(default_factory=lambda: ["/"])
    # aws variant
    vpc_link_stage_variable: str = "vpcLinkId"
    backend_stage_variable: str = "backendHost"
    # The VPC link reaches the internal ALB's HTTPS listener (port 80 only redirects).
    backend_scheme: str = "https"
    api_key_required: bool = True
    cognito_user_pool_arns: list[str] = field(default_factory=list)
    integration_timeout_ms: int = 29_000


# --- comments ---------------------------------------------------------------------------------


def _comments(sets: Iterable[descriptor_pb2.FileDescriptorSet]) -> dict[str, str]:
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


def _resource_patterns(fd: descriptor.FieldDescriptor, registry: Registry) -> list[str]:
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


def _behaviors(fd: descriptor.FieldDescriptor) -> set[int]:
    options = descriptor_pb2.FieldOptions.FromString(fd.GetOptions().SerializeToString())
    return set(options.Extensions[field_behavior_pb2.field_behavior])


# --- schemas ---------------------------------------------------------------------------------


class _Schemas:
    """Builds component schemas for one format, naming them as that format wants."""

    def __init__(self, fmt: Format, comments: dict[str, str]) -> None:
        self.fmt = fmt
        self.comments = comments
        self.components: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}

    def name(self, full_name: str, suffix: str = "") -> str:
        key = full_name + suffix
        if key in self._names:
            return self._names[key]
        parts = full_name.split(".")
        if self.fmt == "swagger2":
            # grpc-gateway's legacy naming: last package component + message name(s).
            package = [p for p in parts if p[:1].islower()]
            types = [p for p in parts if p[:1].isupper()]
            name = (package[-1] if package else "") + "".join(types)
        elif self.fmt == "aws":
            name = "".join(p[:1].upper() + p[1:] for p in re.split(r"[._]", full_name))
        else:
            name = full_name
        name += suffix
        while name in self._names.values():
            name += "X"
        self._names[key] = name
        return name

    def ref(self, name: str) -> dict[str, Any]:
        base = "#/definitions/" if self.fmt == "swagger2" else "#/components/schemas/"
        return {"$ref": base + name}

    def field_schema(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self._single(value_fd)}
        single = self._single(fd)
        if fd.is_repeated:
            return {"type": "array", "items": single}
        if fd.has_presence and not fd.containing_oneof and self.fmt == "openapi3":
            # The gateway prints unset message (and optional) fields as null.
            if "$ref" in single:
                return {"allOf": [single], "nullable": True}
            return {**single, "nullable": True}
        return single

    def _single(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        if fd.type == FD.TYPE_ENUM:
            assert fd.enum_type is not None
            return self.enum(fd.enum_type)
        if fd.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            assert fd.message_type is not None
            return self.message(fd.message_type)
        return dict(_SCALARS[fd.type])

    def enum(self, enum: descriptor.EnumDescriptor) -> dict[str, Any]:
        if enum.full_name == "google.protobuf.NullValue":
            return {"nullable": True} if self.fmt == "openapi3" else {}
        name = self.name(enum.full_name)
        if name not in self.components:
            schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.values]}
            if self.fmt == "swagger2":
                schema["default"] = enum.values[0].name
            doc = self.comments.get(enum.full_name)
            values = [
                f"- {v.name}: {self.comments[f'{enum.full_name}.{v.name}']}"
                for v in enum.values
                if f"{enum.full_name}.{v.name}" in self.comments
            ]
            text = "\n".join(x for x in [doc or "", *values] if x)
            if text:
                schema["description"] = text
            self.components[name] = schema
        return self.ref(name)

    def message(self, msg: descriptor.Descriptor, *, partial: bool = False) -> dict[str, Any]:
        """A reference to ``msg``'s schema; ``partial`` drops ``required`` (PATCH bodies)."""
        if msg.full_name == "google.protobuf.Any":
            name = self.name(msg.full_name)  # a shared model, as protoc-gen-openapiv2 has it
            self.components.setdefault(name, copy.deepcopy(_WKT[msg.full_name]))
            return self.ref(name)
        if msg.full_name in _WKT:
            return copy.deepcopy(_WKT[msg.full_name])
        name = self.name(msg.full_name, "Update" if partial else "")
        if name in self.components:
            return self.ref(name)
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        self.components[name] = schema  # placed first: recursive messages refer to it
        doc = self.comments.get(msg.full_name)
        if doc:
            schema["description"] = doc
        required = []
        for fd in msg.fields:
            prop = self.field_schema(fd)
            behaviors = _behaviors(fd)
            text = self.comments.get(f"{msg.full_name}.{fd.name}")
            if fd.containing_oneof and not fd.containing_oneof.name.startswith("_"):
                others = [f.json_name for f in fd.containing_oneof.fields if f is not fd]
                note = f"Only one of {fd.json_name}, {', '.join(others)} may be set."
                text = f"{text}\n\n{note}" if text else note
            if text:
                prop = (
                    {"allOf": [prop], "description": text}
                    if "$ref" in prop
                    else {**prop, "description": text}
                )
            if field_behavior_pb2.OUTPUT_ONLY in behaviors and self.fmt != "aws":
                prop = (
                    {"allOf": [prop], "readOnly": True}
                    if "$ref" in prop
                    else {**prop, "readOnly": True}
                )
            if field_behavior_pb2.REQUIRED in behaviors and not partial:
                required.append(fd.json_name)
            schema["properties"][fd.json_name] = prop
        if required:
            schema["required"] = required
        return self.ref(name)


# --- paths -----------------------------------------------------------------------------------


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
    colon = last.rfind(":")
    if colon > last.rfind("}"):
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
class _PathParam:
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
) -> tuple[str, list[_PathParam]]:
    """The OpenAPI path of a route and its parameters (see the module docstring).

    Expanded variables are named after the field's ``google.api.resource`` pattern
    (``products/{product}``) when it has one. ``shapes`` keeps the names of paths already
    rendered, so paths that differ only in parameter names (which OpenAPI and API Gateway
    treat as one path) come out identical.
    """
    segments, verb = _segments(route.template.source)
    chains = {".".join(f.name for f in chain): chain for chain in route.path_fields}
    rendered: list[str] = []
    params: list[_PathParam] = []
    anonymous = 0
    for seg in segments:
        if seg in ("*", "**"):
            # A wildcard outside any variable: matched by the gateway, bound to no field.
            name = "wildcard" if anonymous == 0 else f"wildcard_{anonymous}"
            anonymous += 1
            params.append(_PathParam(name, "", [], greedy=seg == "**"))
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
                _PathParam(base, field_path, chain, "" if subs == ["*"] else pattern, greedy)
            )
            rendered.append("{" + base + ("+" if greedy and fmt == "aws" else "") + "}")
            continue
        names = _pattern_names(subs, _resource_patterns(chain[-1], registry)) or []
        stars = 0
        for sub in subs:
            if sub in ("*", "**"):
                name = (
                    names[stars]
                    if stars < len(names)
                    else (base if stars == 0 else f"{base}_{stars}")
                )
                stars += 1
                params.append(_PathParam(name, field_path, chain, greedy=sub == "**"))
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


def _query_fields(
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
        if message is not None and message.full_name not in _WKT:
            if fd.is_repeated or depth >= 3:
                continue  # repeated messages cannot be query parameters (grpc-gateway #492)
            inner_bound = {b for b in bound if b.startswith(proto_path + ".")}
            for name, leaf in _query_fields(message, proto_path + ".", inner_bound, depth + 1):
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


def _json_path(chain: list[descriptor.FieldDescriptor]) -> str:
    return ".".join(f.json_name for f in chain)


# --- documents -------------------------------------------------------------------------------


@dataclass
class _Operation:
    route: Route
    operation_id: str
    tag: str
    summary: str
    description: str


def _operations(routes: list[Route], comments: dict[str, str]) -> list[_Operation]:
    seen: dict[str, int] = {}
    ops = []
    for route in routes:
        service_short = route.service.rsplit(".", 1)[-1]
        base = f"{service_short}_{route.method}"
        seen[base] = seen.get(base, 0) + 1
        op_id = base if seen[base] == 1 else f"{base}{seen[base]}"
        text = comments.get(f"{route.service}.{route.method}", "")
        summary, _, rest = text.partition("\n\n")
        ops.append(_Operation(route, op_id, service_short, summary.replace("\n", " "), rest))
    return ops


_PATH_ITEM_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _path_item_methods(route: Route) -> list[str]:
    """The OpenAPI operations of a route: a custom `*` rule stands for the usual five;
    a custom kind OpenAPI has no slot for (e.g. TRACE) is not documented."""
    if route.http_method == "*":
        return ["get", "put", "post", "delete", "patch"]
    method = route.http_method.lower()
    return [method] if method in _PATH_ITEM_METHODS else []


def _error_statuses(route: Route) -> list[int]:
    codes = [400, 404, 500, 503, 504]
    if route.http_method in ("POST", "PUT", "PATCH", "DELETE", "*"):
        codes.insert(2, 409)
    if route.body:
        codes[1:1] = [413, 415]
    return sorted(set(codes))


class _Builder:
    def __init__(self, fmt: Format, sets: list[descriptor_pb2.FileDescriptorSet], options: Options):
        self.fmt = fmt
        self.options = options
        self.comments = _comments(sets)
        self.registry = build_registry(sets)
        self.routes = load_routes(self.registry)
        self.schemas = _Schemas(fmt, self.comments)
        self._shapes: dict[str, list[str]] = {}

    def path(self, route: Route, fmt: Format | None = None) -> tuple[str, list[_PathParam]]:
        return render_path(route, fmt or self.fmt, self.registry, self._shapes)

    # parameters -------------------------------------------------------------------------

    def _param_schema(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        schema = self.schemas._single(fd)
        if "$ref" in schema and fd.type == FD.TYPE_ENUM:
            return self.schemas.components[schema["$ref"].rsplit("/", 1)[-1]] | {}
        return schema

    def _parameter(
        self,
        name: str,
        where: str,
        fd: descriptor.FieldDescriptor,
        required: bool,
        description: str = "",
        pattern: str = "",
    ) -> dict[str, Any]:
        schema = self._param_schema(fd)
        if self.fmt != "swagger2" and where == "path":
            schema = {"type": "string"} if schema.get("type") == "string" else schema
        if fd.is_repeated:
            schema = {"type": "array", "items": schema}
        param: dict[str, Any] = {"name": name, "in": where, "required": required}
        if description:
            param["description"] = description
        if self.fmt == "swagger2":
            param.update({k: v for k, v in schema.items() if k != "description"})
            if fd.is_repeated:
                param["collectionFormat"] = "multi"
            if pattern:
                param["pattern"] = pattern
        else:
            param["schema"] = schema
            if fd.is_repeated:
                param.update({"style": "form", "explode": True})
        return param

    def _field_comment(self, fd: descriptor.FieldDescriptor) -> str:
        owner = fd.containing_type
        return self.comments.get(f"{owner.full_name}.{fd.name}", "") if owner else ""

    def _string_parameter(self, name: str, description: str) -> dict[str, Any]:
        param: dict[str, Any] = {"name": name, "in": "path", "required": True}
        param["description"] = description
        if self.fmt == "swagger2":
            param["type"] = "string"
        else:
            param["schema"] = {"type": "string"}
        return param

    def _parameters(self, op: _Operation, path_params: list[_PathParam]) -> list[dict[str, Any]]:
        route = op.route
        out = []
        for p in path_params:
            if not p.chain:
                out.append(
                    self._string_parameter(p.name, "Any value: this segment is bound to no field.")
                )
                continue
            leaf = p.chain[-1]
            text = self._field_comment(leaf)
            out.append(self._parameter(p.name, "path", leaf, True, text, p.pattern))
        if route.body == "*":
            return out
        bound = {".".join(f.name for f in chain) for chain in route.path_fields}
        if route.body_field is not None:
            bound.add(route.body_field.name)
        for name, fd in _query_fields(route.request, "", bound, 0):
            text = self._field_comment(fd)
            if route.patch_mask_field is not None and fd is route.patch_mask_field:
                note = "When omitted on PATCH, the gateway builds it from the fields in the body."
                text = f"{text}\n\n{note}" if text else note
            out.append(self._parameter(name, "query", fd, False, text))
        return out

    # bodies and responses ---------------------------------------------------------------

    def _body_schema(self, route: Route) -> tuple[dict[str, Any], bool, str]:
        """(schema, required, description) of the request body."""
        if route.body == "*":
            return (
                self.schemas.message(route.request),
                True,
                self.comments.get(route.request.full_name, ""),
            )
        assert route.body_field is not None
        fd = route.body_field
        text = self.comments.get(f"{route.request.full_name}.{fd.name}", "")
        if fd.type == FD.TYPE_MESSAGE and not fd.is_repeated:
            partial = route.patch_mask_field is not None
            assert fd.message_type is not None
            schema = self.schemas.message(fd.message_type, partial=partial)
        else:
            schema = self.schemas.field_schema(fd)
        return schema, field_behavior_pb2.REQUIRED in _behaviors(fd), text

    def _success_schema(self, route: Route) -> dict[str, Any] | None:
        if route.success_status == 204:
            return None
        if route.response_field is not None:
            return self.schemas.field_schema(route.response_field)
        return self.schemas.message(route.response)

    def _status_schema(self) -> dict[str, Any]:
        return self.schemas.message(self.registry.pool.FindMessageTypeByName(STATUS))

    # openapi 3 ----------------------------------------------------------------------------

    def _openapi3_operation(self, op: _Operation, params: list[_PathParam]) -> dict[str, Any]:
        route = op.route
        operation: dict[str, Any] = {"operationId": op.operation_id, "tags": [op.tag]}
        if op.summary:
            operation["summary"] = op.summary
        if op.description:
            operation["description"] = op.description
        parameters = self._parameters(op, params)
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            if route.http_body_request:
                content = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
                required = True
                text = "Raw request body, passed through as google.api.HttpBody."
            else:
                schema, required, text = self._body_schema(route)
                content = {"application/json": {"schema": schema}}
            body: dict[str, Any] = {"required": required, "content": content}
            if text:
                body["description"] = text
            operation["requestBody"] = body
        responses: dict[str, Any] = {}
        ok = str(route.success_status)
        if route.server_streaming:
            item = self._success_schema(route) or {}
            status = self._status_schema()
            line = {"type": "object", "properties": {"result": item, "error": status}}
            responses[ok] = {
                "description": "A stream: one JSON object per line (`result`, or a final `error`), "
                "or Server-Sent Events with `Accept: text/event-stream`.",
                "content": {
                    "application/x-ndjson": {"schema": line},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            }
        elif route.http_body_response:
            responses[ok] = {
                "description": "Raw response body with its own content type (google.api.HttpBody).",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        else:
            success = self._success_schema(route)
            responses[ok] = {"description": _STATUS_TEXT.get(route.success_status, "Success")}
            if success is not None:
                responses[ok]["content"] = {"application/json": {"schema": success}}
        status = self._status_schema()
        for code in _error_statuses(route):
            responses[str(code)] = {
                "description": _STATUS_TEXT[code],
                "content": {"application/json": {"schema": status}},
            }
        if self.fmt != "aws":
            responses["default"] = {
                "description": "An error: a google.rpc.Status with the HTTP status of its code.",
                "content": {"application/json": {"schema": status}},
            }
        if self.fmt == "aws":
            for response in responses.values():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if response.get("content") and (
                    "$ref" not in schema and schema.get("type") != "object"
                ):
                    del response["content"]  # API Gateway wants object schemas; proxied as is
        operation["responses"] = responses
        if self.fmt == "aws":
            self._aws_operation(operation, route, params)
        else:
            operation["security"] = [{"bearerAuth": []}, {"apiKey": []}, {}]
        return operation

    def _aws_operation(
        self, operation: dict[str, Any], route: Route, params: list[_PathParam]
    ) -> None:
        o = self.options
        path, _ = self.path(route)
        uri = f"{o.backend_scheme}://${{stageVariables.{o.backend_stage_variable}}}{path}"
        request_parameters = {
            f"integration.request.path.{p.name}": f"method.request.path.{p.name}" for p in params
        }
        for param in operation.get("parameters", []):
            if param["in"] == "query":
                key = param["name"]
                request_parameters[f"integration.request.querystring.{key}"] = (
                    f"method.request.querystring.{key}"
                )
        method = "ANY" if route.http_method == "*" else route.http_method
        operation["x-amazon-apigateway-integration"] = {
            "type": "http_proxy",
            "httpMethod": method,
            "uri": uri,
            "connectionType": "VPC_LINK",
            "connectionId": f"${{stageVariables.{o.vpc_link_stage_variable}}}",
            "passthroughBehavior": "when_no_match",
            "timeoutInMillis": o.integration_timeout_ms,
            "requestParameters": request_parameters,
            "responses": {"default": {"statusCode": str(route.success_status)}},
        }
        operation["x-amazon-apigateway-request-validator"] = "all" if route.body else "params"
        security: list[dict[str, list[str]]] = []
        requirement: dict[str, list[str]] = {}
        if o.api_key_required:
            requirement["api_key"] = []
        if o.cognito_user_pool_arns:
            requirement["cognito"] = []
        if requirement:
            security.append(requirement)
        operation["security"] = security

    def openapi3(self) -> dict[str, Any]:
        o = self.options
        paths: dict[str, dict[str, Any]] = {}
        omitted: list[dict[str, str]] = []
        for op in _operations(self.routes, self.comments):
            path, params = self.path(op.route)
            reason = _aws_unrepresentable(path, params) if self.fmt == "aws" else ""
            if reason:
                omitted.append({"operationId": op.operation_id, "path": path, "reason": reason})
                continue
            for m in _path_item_methods(op.route):
                paths.setdefault(path, {})[m] = self._openapi3_operation(op, params)
        doc: dict[str, Any] = {
            "openapi": "3.0.3",
            "info": {"title": o.title, "version": o.version},
            "servers": [{"url": u} for u in o.servers],
            "tags": self._tags(),
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(self.schemas.components.items()))},
        }
        if o.description:
            doc["info"]["description"] = o.description
        if self.fmt == "aws":
            doc.pop("servers")
            doc["components"]["securitySchemes"] = self._aws_security()
            doc["x-amazon-apigateway-request-validators"] = {
                "all": {"validateRequestBody": True, "validateRequestParameters": True},
                "params": {"validateRequestBody": False, "validateRequestParameters": True},
            }
            doc["x-amazon-apigateway-gateway-responses"] = _aws_gateway_responses()
            if omitted:
                # Routes API Gateway cannot express; the gateway still serves them behind the ALB.
                doc["x-colonnade-omitted-operations"] = omitted
            _strip_for_aws(doc)
        else:
            doc["components"]["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            }
        return doc

    def _aws_security(self) -> dict[str, Any]:
        schemes: dict[str, Any] = {}
        if self.options.api_key_required:
            schemes["api_key"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
        if self.options.cognito_user_pool_arns:
            schemes["cognito"] = {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": list(self.options.cognito_user_pool_arns),
                },
            }
        return schemes

    def _tags(self) -> list[dict[str, str]]:
        tags = []
        for service in sorted({r.service for r in self.routes}):
            tag = {"name": service.rsplit(".", 1)[-1]}
            text = self.comments.get(service)
            if text:
                tag["description"] = text
            tags.append(tag)
        return tags

    # swagger 2 ----------------------------------------------------------------------------

    def swagger2(self) -> dict[str, Any]:
        o = self.options
        paths: dict[str, dict[str, Any]] = {}
        status_ref = self._status_schema()
        for op in _operations(self.routes, self.comments):
            route = op.route
            path, params = self.path(route)
            operation: dict[str, Any] = {"operationId": op.operation_id, "tags": [op.tag]}
            if op.summary:
                operation["summary"] = op.summary
            if op.description:
                operation["description"] = op.description
            parameters = self._parameters(op, params)
            if route.body:
                if route.http_body_request:
                    body_schema: dict[str, Any] = {"type": "string", "format": "binary"}
                    required, text = True, ""
                else:
                    body_schema, required, text = self._body_schema(route)
                name = route.body_field.name if route.body_field is not None else "body"
                body_param = {
                    "name": name,
                    "in": "body",
                    "required": required,
                    "schema": body_schema,
                }
                if text:
                    body_param["description"] = text
                parameters.insert(len(params), body_param)
            if parameters:
                operation["parameters"] = parameters
            ok: dict[str, Any] = {"description": "A successful response."}
            schema = self._success_schema(route)
            if route.server_streaming:
                ok = {
                    "description": "A successful response.(streaming responses)",
                    "schema": {
                        "type": "object",
                        "properties": {"result": schema or {}, "error": status_ref},
                        "title": f"Stream result of {route.response.full_name}",
                    },
                }
            elif schema is not None:
                ok["schema"] = schema
            operation["responses"] = {
                str(route.success_status): ok,
                "default": {"description": "An unexpected error response.", "schema": status_ref},
            }
            for m in _path_item_methods(route):
                paths.setdefault(path, {})[m] = operation
        absolute = [u for u in o.servers if "://" in u]
        host = absolute[0].split("://", 1)[1].split("/", 1)[0] if absolute else ""
        doc: dict[str, Any] = {
            "swagger": "2.0",
            "info": {"title": o.title, "version": o.version},
            "tags": self._tags(),
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "paths": dict(sorted(paths.items())),
            "definitions": dict(sorted(self.schemas.components.items())),
            "securityDefinitions": {
                "bearerAuth": {"type": "apiKey", "name": "Authorization", "in": "header"},
                "apiKey": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            },
        }
        if host:
            doc["host"] = host
        if o.description:
            doc["info"]["description"] = o.description
        return doc


def _aws_unrepresentable(path: str, params: list[_PathParam]) -> str:
    """Why API Gateway cannot import this path, or ``""``."""
    if any(p.greedy for p in params):
        return "a '**' variable: greedy {x+} parameters do not validate as OpenAPI"
    if re.search(r"\}:", path):
        return "a custom verb after a path variable: parameters must be whole segments"
    return ""


def _aws_gateway_responses() -> dict[str, Any]:
    """API Gateway's own errors as google.rpc.Status bodies, like the gateway's."""

    def status(code: int, http: str) -> dict[str, Any]:
        template = (
            '{"code": ' + str(code) + ', "message": $context.error.messageString, "details": []}'
        )
        return {"statusCode": http, "responseTemplates": {"application/json": template}}

    return {
        "DEFAULT_4XX": {"responseTemplates": status(3, "400")["responseTemplates"]},
        "DEFAULT_5XX": {"responseTemplates": status(13, "500")["responseTemplates"]},
        "BAD_REQUEST_BODY": status(3, "400"),
        "BAD_REQUEST_PARAMETERS": status(3, "400"),
        "MISSING_AUTHENTICATION_TOKEN": status(5, "404"),
        "INVALID_API_KEY": status(7, "403"),
        "ACCESS_DENIED": status(7, "403"),
        "UNAUTHORIZED": status(16, "401"),
        "THROTTLED": status(8, "429"),
        "QUOTA_EXCEEDED": status(8, "429"),
        "REQUEST_TOO_LARGE": status(3, "413"),
        "UNSUPPORTED_MEDIA_TYPE": status(3, "415"),
        "INTEGRATION_TIMEOUT": status(4, "504"),
        "INTEGRATION_FAILURE": status(14, "503"),
    }


# Keywords API Gateway's importer rejects in models (checked by aws_import_problems) …
_AWS_UNSUPPORTED = ("readOnly", "default", "example", "discriminator", "exclusiveMinimum")
# … and what the AWS variant drops besides (unknown to its JSON Schema draft 4 models).
_AWS_DROP = {*_AWS_UNSUPPORTED, "nullable", "exclusiveMaximum"}
# Keys under which a document holds schemas.
_SCHEMA_KEYS = ("schema", "schemas", "properties", "items", "additionalProperties")


def _strip_for_aws(node: Any, in_schema: bool = False) -> None:
    """Remove what API Gateway's import rejects (see :func:`aws_import_problems`)."""
    if isinstance(node, dict):
        if "allOf" in node and len(node["allOf"]) == 1:
            inner = node.pop("allOf")[0]
            for key in list(node):
                if key != "description":
                    node.pop(key)
            node.update(inner)
        for key in list(node):
            if key in _AWS_DROP and in_schema:
                node.pop(key)
        if (
            in_schema
            and node.get("type") in ("integer", "number", "string")
            and "format" in node
            and (node["type"] != "string" or node["format"] not in ("date-time", "byte", "binary"))
        ):
            node.pop("format")
        for key, value in node.items():
            _strip_for_aws(
                value,
                in_schema or key in _SCHEMA_KEYS,
            )
    elif isinstance(node, list):
        for item in node:
            _strip_for_aws(item, in_schema)


def aws_import_problems(doc: dict[str, Any]) -> list[str]:
    """Everything in ``doc`` that an API Gateway REST API import rejects or drops.

    The rules (API Gateway developer guide, "Amazon API Gateway important notes" for REST
    APIs): OpenAPI 2.0 or 3.0 only; model names alphanumeric; path segments only
    ``[A-Za-z0-9_-.,:{}]`` and path parameters whole segments (a greedy ``{x+}`` only last);
    no ``readOnly``, ``default``, ``example``, ``discriminator``, ``exclusiveMinimum`` in
    models; ``integer``/``number`` without ``format``; security schemes only ``apiKey`` and
    security per operation (root-level security is ignored); no ``$ref`` to shared
    responses; every operation integrated; method response schemas objects.
    """
    problems: list[str] = []
    version = str(doc.get("openapi", doc.get("swagger", "")))
    if not (version.startswith("3.0") or version == "2.0"):
        problems.append(f"OpenAPI version {version!r}: API Gateway imports 2.0 and 3.0.x only")
    if "security" in doc:
        problems.append("root-level security is ignored: declare it per operation")
    schemas = doc.get("components", {}).get("schemas", doc.get("definitions", {}))
    for name in schemas:
        if not re.fullmatch(r"[A-Za-z0-9]+", name):
            problems.append(f"model name {name!r} is not alphanumeric")
    for scheme_name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
        if scheme.get("type") != "apiKey":
            problems.append(
                f"security scheme {scheme_name!r} is {scheme.get('type')!r}, not apiKey"
            )
    if "responses" in doc.get("components", {}):
        problems.append("shared components.responses are not supported: inline them")
    for path, item in doc.get("paths", {}).items():
        segments = path.strip("/").split("/")
        for i, seg in enumerate(segments):
            if not re.fullmatch(r"[A-Za-z0-9_\-.,:{}+]*", seg):
                problems.append(f"{path}: segment {seg!r} has characters API Gateway rejects")
            if "{" in seg and not re.fullmatch(r"\{[A-Za-z0-9_]+\+?\}", seg):
                problems.append(f"{path}: parameter in {seg!r} is not a whole segment")
            if seg.endswith("+}") and i != len(segments) - 1:
                problems.append(f"{path}: greedy parameter {seg!r} is not the last segment")
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if "x-amazon-apigateway-integration" not in op:
                problems.append(f"{where}: no x-amazon-apigateway-integration")
            if "security" not in op:
                problems.append(f"{where}: no per-operation security")
            for status, response in op.get("responses", {}).items():
                if "$ref" in response:
                    problems.append(f"{where} {status}: $ref responses are not supported")
                for media in response.get("content", {}).values():
                    schema = media.get("schema", {})
                    if "$ref" not in schema and schema.get("type") not in (None, "object"):
                        problems.append(f"{where} {status}: response schema is not an object")
    _walk_schema_problems(doc, problems, "", False)
    return problems


def _walk_schema_problems(node: Any, problems: list[str], where: str, in_schema: bool) -> None:
    if isinstance(node, dict):
        if in_schema:
            for key in _AWS_UNSUPPORTED:
                if key in node:
                    problems.append(f"{where}: '{key}' is not supported in models")
            if node.get("type") in ("integer", "number") and "format" in node:
                problems.append(f"{where}: '{node['type']}' with format '{node['format']}'")
        for key, value in node.items():
            _walk_schema_problems(
                value,
                problems,
                f"{where}/{key}",
                in_schema or key in _SCHEMA_KEYS,
            )
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk_schema_problems(item, problems, f"{where}/{i}", in_schema)


def generate(
    descriptor_sets: Iterable[str | Path | descriptor_pb2.FileDescriptorSet],
    fmt: Format = "openapi3",
    options: Options | None = None,
) -> dict[str, Any]:
    """One merged document for every service with HTTP rules in the descriptor sets."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    sets = [
        s if isinstance(s, descriptor_pb2.FileDescriptorSet) else read_descriptor_set(s)
        for s in descriptor_sets
    ]
    builder = _Builder(fmt, sets, options or Options())
    return builder.swagger2() if fmt == "swagger2" else builder.openapi3()


def dumps(doc: dict[str, Any]) -> str:
    """The canonical text of a document: what is committed and compared for drift."""
    import json

    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


#: Where the generated documents are committed, by format (relative to the repository).
COMMITTED = {
    "openapi3": "openapi/colonnade.openapi3.json",
    "swagger2": "openapi/colonnade.swagger2.json",
    "aws": "openapi/colonnade.apigateway.json",
}
