"""`google.api.http` rules: routes of gRPC methods, checked at start-up, and the router.

A rule names an HTTP method and a path template (templates.py); `build_route` resolves its
variables, body and response_body against the method's messages and refuses what the gateway
cannot serve (a DescriptorError naming the method). The Router finds the route of a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import DescriptorError, TemplateError
from colonnade.gateway.templates import Template, decode_variable, parse_template

FD = descriptor.FieldDescriptor
SUCCESS_STATUS_EXTENSION = "colonnade.api.v1.http_success_status"
HTTP_BODY = "google.api.HttpBody"


@dataclass
class Route:
    """One HTTP binding of one gRPC method."""

    http_method: str  # "GET", ..., or "*" for a custom rule matching any method
    template: Template
    service: str
    method: str
    grpc_path: str
    request: descriptor.Descriptor
    response: descriptor.Descriptor
    body: str  # "", "*" or a top-level field name
    response_body: str
    server_streaming: bool
    success_status: int
    client_streaming: bool = False
    path_fields: list[list[descriptor.FieldDescriptor]] = field(default_factory=list)
    body_field: descriptor.FieldDescriptor | None = None
    response_field: descriptor.FieldDescriptor | None = None
    patch_mask_field: descriptor.FieldDescriptor | None = None

    @property
    def http_body_request(self) -> bool:
        """The HTTP body is passed raw into a google.api.HttpBody."""
        if self.body == "*":
            return self.request.full_name == HTTP_BODY
        return (
            self.body_field is not None
            and self.body_field.message_type is not None
            and self.body_field.message_type.full_name == HTTP_BODY
        )

    @property
    def http_body_response(self) -> bool:
        """The response (or its response_body field) is a google.api.HttpBody."""
        if self.response_field is not None:
            mt = self.response_field.message_type
            return (
                mt is not None and mt.full_name == HTTP_BODY and not self.response_field.is_repeated
            )
        return self.response.full_name == HTTP_BODY


def resolve_field_path(
    desc: descriptor.Descriptor, path: tuple[str, ...] | list[str], what: str
) -> list[descriptor.FieldDescriptor]:
    """The field descriptors along a proto-name path; DescriptorError when one is missing."""
    chain: list[descriptor.FieldDescriptor] = []
    cur: descriptor.Descriptor | None = desc
    for i, name in enumerate(path):
        if cur is None:
            raise DescriptorError(f"{what}: {'.'.join(path[:i])} is not a message")
        fd = cur.fields_by_name.get(name)
        if fd is None:
            raise DescriptorError(f"{what}: {cur.full_name} has no field {name!r}")
        if fd.is_repeated and i < len(path) - 1:
            raise DescriptorError(f"{what}: {name} is repeated and cannot be traversed")
        chain.append(fd)
        cur = fd.message_type
    return chain


def _rule_pattern(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise DescriptorError("an HttpRule without a pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return kind.upper(), getattr(rule, kind)


def _success_status(method: descriptor.MethodDescriptor, registry: Registry) -> int:
    opts = method.GetOptions()
    try:
        ext = registry.pool.FindExtensionByName(SUCCESS_STATUS_EXTENSION)
    except KeyError:
        return 200
    # The options were parsed with the generated classes' pool; read the extension from the
    # raw bytes with the gateway pool's own MethodOptions class.
    cls = registry.message_class_by_name("google.protobuf.MethodOptions")
    parsed = cls.FromString(opts.SerializeToString())
    if parsed.HasExtension(ext):  # type: ignore[arg-type]
        value = int(parsed.Extensions[ext])  # type: ignore[index]
        if not 200 <= value <= 299:
            raise DescriptorError(
                f"{method.full_name}: http_success_status {value} is not a 2xx status"
            )
        return value
    return 200


def _http_rules(method: descriptor.MethodDescriptor, registry: Registry) -> list[http_pb2.HttpRule]:
    cls = registry.message_class_by_name("google.protobuf.MethodOptions")
    parsed = cls.FromString(method.GetOptions().SerializeToString())
    try:
        ext = registry.pool.FindExtensionByName("google.api.http")
    except KeyError:
        return []
    if not parsed.HasExtension(ext):  # type: ignore[arg-type]
        return []
    raw: bytes = parsed.Extensions[ext].SerializeToString()  # type: ignore[index]
    rule = http_pb2.HttpRule.FromString(raw)
    rules = [rule]
    for extra in rule.additional_bindings:
        if extra.additional_bindings:
            raise DescriptorError(f"{method.full_name}: additional_bindings cannot nest")
        rules.append(extra)
    return rules


def build_route(
    method: descriptor.MethodDescriptor,
    rule: http_pb2.HttpRule,
    registry: Registry,
    success_status: int,
) -> Route:
    """Validates one rule of a method and builds its Route (DescriptorError when invalid)."""
    name = method.full_name
    http_method, path = _rule_pattern(rule)
    try:
        template = parse_template(path)
    except TemplateError as exc:
        raise DescriptorError(f"{name}: {exc}") from exc
    if method.client_streaming:
        # grpc-gateway decodes each JSON value of the body into a whole request message and
        # refuses path parameters for client streams (they would have to repeat per message).
        if rule.body != "*":
            raise DescriptorError(
                f'{name}: a client-streaming method\'s rule needs body "*" '
                "(each JSON value of the body is one whole request message)"
            )
        if template.variables:
            raise DescriptorError(
                f"{name} {path}: a client-streaming method cannot have path variables"
            )
    route = Route(
        http_method=http_method,
        template=template,
        service=method.containing_service.full_name,
        method=method.name,
        grpc_path=f"/{method.containing_service.full_name}/{method.name}",
        request=method.input_type,
        response=method.output_type,
        body=rule.body,
        response_body=rule.response_body,
        server_streaming=method.server_streaming,
        success_status=success_status,
        client_streaming=method.client_streaming,
    )
    for var in template.variables:
        chain = resolve_field_path(method.input_type, var.field_path, f"{name} {path}")
        leaf = chain[-1]
        # A repeated scalar takes a comma-separated value (grpc-gateway's runtime.*Slice).
        if leaf.type == FD.TYPE_MESSAGE and leaf.is_repeated:
            raise DescriptorError(
                f"{name} {path}: path variable {leaf.name} is a repeated message or a map"
            )
        if leaf.type == FD.TYPE_MESSAGE:
            raise DescriptorError(f"{name} {path}: path variable {leaf.name} is a message")
        route.path_fields.append(chain)
    if rule.body and rule.body != "*":
        fd = method.input_type.fields_by_name.get(rule.body)
        if fd is None:
            raise DescriptorError(f"{name}: body field {rule.body!r} is not a top-level field")
        route.body_field = fd
    if rule.response_body:
        fd = method.output_type.fields_by_name.get(rule.response_body)
        if fd is None:
            raise DescriptorError(f"{name}: response_body {rule.response_body!r} not found")
        route.response_field = fd
    if http_method == "PATCH" and route.body_field is not None:
        masks = [
            f
            for f in method.input_type.fields
            if f.message_type is not None
            and f.message_type.full_name == "google.protobuf.FieldMask"
            and not f.is_repeated
        ]
        if len(masks) == 1:
            route.patch_mask_field = masks[0]
    return route


def load_routes(registry: Registry) -> list[Route]:
    """Every route of every service of the registry, in declaration order."""
    routes: list[Route] = []
    for service in registry.services():
        for method in service.methods:
            rules = _http_rules(method, registry)
            if not rules:
                continue
            status = _success_status(method, registry)
            for rule in rules:
                routes.append(build_route(method, rule, registry, status))
    return routes


T = TypeVar("T")


@dataclass
class Match(Generic[T]):
    """A routed request: the route, what was registered with it, and the decoded path values."""

    route: Route
    target: T
    values: list[str]


class Router(Generic[T]):
    """Finds the route of (method, raw path), and what was registered with it.

    The gateway registers each route with its compiled endpoint, so a match carries everything
    the request needs. Precedence follows grpc-gateway: among the routes of one HTTP method,
    the one registered last is tried first (grpc-gateway prepends handlers). A path known
    under other methods only gives 405 with their list for `Allow`.
    """

    def __init__(self, entries: Iterable[tuple[Route, T]]) -> None:
        self.routes: list[Route] = []
        self._by_method: dict[str, list[tuple[Route, T]]] = {}
        for route, target in entries:
            self.routes.append(route)
            self._by_method.setdefault(route.http_method, []).insert(0, (route, target))
        self._any = self._by_method.pop("*", [])

    def match(self, method: str, path: str) -> Match[T] | None:
        """The route for method and raw path, or None."""
        for candidates in (self._by_method.get(method, ()), self._any):
            for r, target in candidates:
                m = r.template.regex.match(path)
                if m is not None:
                    values = []
                    for v in r.template.variables:  # a loop: no comprehension frame per request
                        raw = m.group(v.group)
                        values.append(decode_variable(raw, v.single_segment) if "%" in raw else raw)
                    return Match(r, target, values)
        return None

    def allowed(self, path: str) -> list[str]:
        """The HTTP methods that have a route for this path (for 405's Allow)."""
        out = []
        for method, entries in self._by_method.items():
            if any(r.template.regex.match(path) for r, _ in entries):
                out.append(method)
        return sorted(out)


__all__ = [
    "Match",
    "Route",
    "Router",
    "Template",
    "TemplateError",
    "annotations_pb2",
    "decode_variable",
    "load_routes",
    "parse_template",
]
