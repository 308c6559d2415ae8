"""HTTP request -> gRPC request message, and gRPC response -> HTTP body.

Order of population (grpc-gateway's generated handlers): the body first, then query
parameters, then path variables, so a path-bound value wins over the same field in the body.
With `strict`, a body that sets a path-bound field and an unknown query parameter are 400s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from google.protobuf import descriptor
from google.protobuf.message import Message

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import BadRequest, JsonError
from colonnade.gateway.jsonconv import (
    NESTING_ERRORS,
    STRING_FORM,
    WRAPPERS,
    Converters,
    decode_base64,
    message_type,
    nesting_error,
)
from colonnade.gateway.jsonconv import json_depth as _json_depth
from colonnade.gateway.routing import Route

FD = descriptor.FieldDescriptor
#: A JSON value this deep builds at most ~2 levels of message per level (Struct / Value):
#: always within protobuf's 100.
_SAFE_JSON_DEPTH = 48
_SELF_NESTING = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def _nestable(desc: descriptor.Descriptor) -> bool:
    """Whether messages of this type can nest without bound (a cycle, or Struct / Value)."""
    path: set[str] = set()
    done: set[str] = set()

    def visit(d: descriptor.Descriptor) -> bool:
        if d.full_name in _SELF_NESTING or d.full_name in path:
            return True
        if d.full_name in done:
            return False
        path.add(d.full_name)
        found = any(f.message_type is not None and visit(f.message_type) for f in d.fields)
        path.discard(d.full_name)
        done.add(d.full_name)
        return found

    return visit(desc)


Chain = list[descriptor.FieldDescriptor]
# `name[key]=value` sets one map entry (grpc-gateway v2's query parser: ^(.*)\[(.*)\]$).
_MAP_ENTRY = re.compile(r"(.+)\[(.*)\]\Z")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_BLIND = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
# Walked by JSON keys in PATCH masks (grpc-gateway's isDynamicProtoMessage: not ListValue).
_DYNAMIC = {"google.protobuf.Struct", "google.protobuf.Value"}


class RequestBuilder:
    """Builds the request message of one route from path values, query string and body."""

    def __init__(self, route: Route, registry: Registry, conv: Converters, *, strict: bool) -> None:
        self.route = route
        self.registry = registry
        self.conv = conv
        self.strict = strict
        self.cls = registry.message_class(route.request)
        self._query_cache: dict[str, Chain | None] = {}
        self._bound_prefixes = [tuple(f.name for f in chain) for chain in route.path_fields]
        if route.body_field is not None:
            self._bound_prefixes.append((route.body_field.name,))
        self._body_decoder: Callable[[Any, str], Any] | None = None
        if route.body == "*":
            self._body_decoder = conv.decoder(route.request)
        elif route.body_field is not None:
            self._body_decoder = conv.field_decoder(route.body_field)
        # Protobuf parses at most 100 levels of messages, and the backend parses what the
        # gateway sends: a body of a type that can nest that deep is checked (below).
        self._nestable = _nestable(route.request)
        self._path_setters = [
            (chain, ".".join(f.name for f in chain), self._path_parser(chain[-1]))
            for chain in route.path_fields
        ]
        # The common case, every variable a top-level string field ({name}): set directly.
        self._plain_strings: list[str] | None = None
        if all(
            len(c) == 1 and c[0].type == FD.TYPE_STRING and not c[0].is_repeated
            for c in route.path_fields
        ):
            self._plain_strings = [c[0].name for c in route.path_fields]

    # -- body ------------------------------------------------------------------------------

    def build(self, values: list[str], query: str, body: Any) -> Message:
        """The request message; `body` is the parsed JSON body (None when absent)."""
        route = self.route
        if body is None or route.body == "":
            req = self.cls()
        else:
            decoder = self._body_decoder
            assert decoder is not None
            req = self._decode_body(decoder, body)
        if query and route.body != "*":
            self._apply_query(req, query)
        plain = self._plain_strings
        if plain is not None and (body is None or not self.strict):
            for name, raw_value in zip(plain, values, strict=True):
                try:
                    setattr(req, name, raw_value)
                except (TypeError, ValueError) as exc:  # as _set would
                    raise BadRequest(name, str(exc)) from None
        else:
            for (chain, dotted, parse), raw_value in zip(self._path_setters, values, strict=True):
                if self.strict and body is not None and _is_set(req, chain):
                    raise BadRequest(
                        dotted, "is bound by the URL path and must not be set in the body too"
                    )
                _set(req, chain, parse(raw_value, dotted), dotted)
        if (
            route.patch_mask_field is not None
            and isinstance(body, dict)
            and not getattr(req, route.patch_mask_field.name).paths
        ):
            assert route.body_field is not None and route.body_field.message_type is not None
            paths = field_mask_paths(body, route.body_field.message_type)
            getattr(req, route.patch_mask_field.name).paths.extend(paths)
        return req

    def _decode_body(self, decoder: Callable[[Any, str], Any], body: Any) -> Message:
        field = self.route.body_field
        if field is None:  # body "*": the whole message
            req: Message = self._decode(lambda: decoder(body, ""), "", body)
        else:
            name = field.name
            req = self._decode(
                lambda: self.cls(**{name: decoder(body, field.json_name)}), field.json_name, body
            )
        if self._nestable and _json_depth(body) > _SAFE_JSON_DEPTH:
            # deep enough that the backend may refuse it: parse it as the backend would
            path = field.json_name if field is not None else ""
            self._decode(lambda: self.cls.FromString(req.SerializeToString()), path, body)
        return req

    def _decode(self, fn: Callable[[], Any], path: str, value: Any = None) -> Any:
        try:
            return fn()
        except JsonError as exc:
            raise BadRequest(exc.path, exc.reason) from None
        except NESTING_ERRORS as exc:
            error = nesting_error(path, exc, value)
            raise BadRequest(error.path, error.reason) from None

    def build_http_body(
        self, values: list[str], query: str, raw: bytes, content_type: str
    ) -> Message:
        """The request when the body binds a google.api.HttpBody: bytes passed through raw."""
        route = self.route
        hb_cls = self.registry.message_class_by_name("google.api.HttpBody")
        hb = hb_cls(content_type=content_type, data=raw)
        if route.body == "*":
            req = hb
        else:
            assert route.body_field is not None
            req = self.cls(**{route.body_field.name: hb})
        if query and route.body != "*":
            self._apply_query(req, query)
        for (chain, dotted, parse), raw_value in zip(self._path_setters, values, strict=True):
            _set(req, chain, parse(raw_value, dotted), dotted)
        return req

    # -- query -----------------------------------------------------------------------------

    def _resolve(self, key: str) -> Chain | None:
        if key in self._query_cache:
            return self._query_cache[key]
        chain: Chain = []
        desc: descriptor.Descriptor | None = self.route.request
        for part in key.split("."):
            if desc is None:
                return None
            fd = desc.fields_by_name.get(part)
            if fd is None:
                fd = next((f for f in desc.fields if f.json_name == part), None)
            if fd is None:
                return None
            chain.append(fd)
            if fd.is_repeated and len(chain) < len(key.split(".")):
                return None
            desc = fd.message_type
            if desc is not None and desc.full_name in STRING_FORM | WRAPPERS | _BLIND:
                desc = None  # a leaf: set from its string form
        if len(self._query_cache) < 1024:
            self._query_cache[key] = chain
        return chain

    def _query_field(self, key: str) -> Chain | None:
        """The field a query parameter names, or None when it is ignored (400 when strict)."""
        chain = self._resolve(key)
        if chain is None:
            if self.strict:
                raise BadRequest(key, f"unknown query parameter for {self.route.request.full_name}")
            return None
        names = tuple(f.name for f in chain)
        if any(names[: len(p)] == p for p in self._bound_prefixes):
            if self.strict:
                raise BadRequest(key, "is bound by the path or the body, not the query")
            return None
        return chain

    def _apply_query(self, req: Message, query: str) -> None:
        grouped: dict[str, list[str]] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            grouped.setdefault(key, []).append(value)
        for key, vals in grouped.items():
            entry = _MAP_ENTRY.match(key) if key.endswith("]") else None
            if entry is not None:
                self._apply_map_entry(req, entry.group(1), entry.group(2), vals)
                continue
            chain = self._query_field(key)
            if chain is None:
                continue
            names = tuple(f.name for f in chain)
            leaf = chain[-1]
            if _is_map_field(leaf) or (leaf.type == FD.TYPE_MESSAGE and leaf.is_repeated):
                if self.strict:
                    raise BadRequest(
                        key,
                        "a map takes one query parameter per entry, name[key]=value; "
                        "repeated messages cannot be query parameters",
                    )
                continue
            if leaf.type == FD.TYPE_MESSAGE and message_type(leaf).full_name not in (
                STRING_FORM | WRAPPERS | _BLIND
            ):
                raise BadRequest(key, "a message field cannot be set from one query parameter")
            dotted = ".".join(names)
            parse = self._scalar_parser(leaf)
            if leaf.is_repeated:
                items = [parse(v, dotted) for v in vals]
                _container(req, chain, dotted).extend(items)
            else:
                if len(vals) > 1:
                    raise BadRequest(dotted, f"is not repeated but was given {len(vals)} values")
                _set(req, chain, parse(vals[0], dotted), dotted)

    def _apply_map_entry(self, req: Message, name: str, key: str, vals: list[str]) -> None:
        """`name[key]=value`: one map entry, as grpc-gateway v2 reads it."""
        chain = self._query_field(name)
        if chain is None:
            return
        dotted = ".".join(f.name for f in chain)
        leaf = chain[-1]
        if not _is_map_field(leaf):
            raise BadRequest(dotted, f"is not a map field, so [{key}] cannot follow it")
        if len(vals) != 1:
            raise BadRequest(dotted, f"map key {key!r} was given {len(vals)} values")
        entry = message_type(leaf)
        key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
        if value_fd.type == FD.TYPE_MESSAGE and message_type(value_fd).full_name not in (
            STRING_FORM | WRAPPERS | _BLIND
        ):
            raise BadRequest(dotted, "a map of messages cannot be set from query parameters")
        k = self._scalar_parser(key_fd)(key, dotted)
        v = self._scalar_parser(value_fd)(vals[0], dotted)
        container = _container(req, chain, dotted)
        if value_fd.type == FD.TYPE_MESSAGE:
            container[k].CopyFrom(v)
        else:
            container[k] = v

    def _path_parser(self, fd: descriptor.FieldDescriptor) -> Callable[[str, str], Any]:
        """Parses a path value; a repeated scalar's value is comma-separated, as grpc-gateway's
        generated handlers read it (`runtime.StringSlice(val, ",")` and the like)."""
        parse = self._scalar_parser(fd)
        if not fd.is_repeated:
            return parse
        return lambda s, p: [parse(item, p) for item in s.split(",")]

    def _scalar_parser(self, fd: descriptor.FieldDescriptor) -> Callable[[str, str], Any]:
        """Parses one string (query or path value) for a field, raising 400 naming it."""
        t = fd.type
        if t == FD.TYPE_STRING:
            return lambda s, p: s
        if t == FD.TYPE_BOOL:

            def parse_bool(s: str, p: str) -> bool:
                if s in _TRUE:
                    return True
                if s in _FALSE:
                    return False
                raise BadRequest(p, f"{s!r} is not a boolean (true or false)")

            return parse_bool
        if t == FD.TYPE_BYTES:

            def parse_bytes(s: str, p: str) -> bytes:
                try:
                    return decode_base64(s)
                except ValueError:
                    raise BadRequest(p, f"{s!r} is not valid base64") from None

            return parse_bytes
        if t == FD.TYPE_MESSAGE:
            name = message_type(fd).full_name
            dec = self.conv.decoder(message_type(fd))
            if name in WRAPPERS:
                inner = self._scalar_parser(message_type(fd).fields_by_name["value"])
                cls = self.registry.message_class(message_type(fd))
                return lambda s, p: cls(value=inner(s, p))
            if name in _BLIND:

                def parse_json(s: str, p: str) -> Any:
                    try:
                        value = json.loads(s)
                    except (ValueError, RecursionError):
                        raise BadRequest(
                            p, f"{s[:100]!r} is not JSON or nested too deeply"
                        ) from None
                    return self._decode(lambda: dec(value, p), p, value)

                return parse_json
            return lambda s, p: self._decode(lambda: dec(s, p), p)
        dec_scalar = self.conv.scalar_decoder(fd)
        return lambda s, p: self._decode(lambda: dec_scalar(s, p), p)


def _is_map_field(fd: descriptor.FieldDescriptor) -> bool:
    return (
        fd.is_repeated and fd.message_type is not None and message_type(fd).GetOptions().map_entry
    )


def _parent(req: Message, chain: Chain) -> Message:
    msg = req
    for fd in chain[:-1]:
        msg = getattr(msg, fd.name)
    return msg


def _container(req: Message, chain: Chain, dotted: str) -> Any:
    return getattr(_parent(req, chain), chain[-1].name)


def _set(req: Message, chain: Chain, value: Any, dotted: str) -> None:
    parent = _parent(req, chain)
    leaf = chain[-1]
    if leaf.is_repeated:  # a repeated path variable: the path's values replace the body's
        container = getattr(parent, leaf.name)
        del container[:]
        container.extend(value)
    elif leaf.type == FD.TYPE_MESSAGE:
        getattr(parent, leaf.name).CopyFrom(value)
    else:
        try:
            setattr(parent, leaf.name, value)
        except (TypeError, ValueError) as exc:
            raise BadRequest(dotted, str(exc)) from None


def _is_set(req: Message, chain: Chain) -> bool:
    msg = req
    for fd in chain[:-1]:
        if not msg.HasField(fd.name):
            return False
        msg = getattr(msg, fd.name)
    leaf = chain[-1]
    if leaf.has_presence:
        return msg.HasField(leaf.name)
    return bool(getattr(msg, leaf.name))


def field_mask_paths(body: dict[str, Any], desc: descriptor.Descriptor) -> list[str]:
    """The update mask grpc-gateway derives from a PATCH body (runtime/fieldmask.go).

    Every complete JSON path present becomes a path of proto field names; objects under
    ordinary message fields are walked; under a `google.protobuf.Struct` or `Value` field the
    JSON object's own keys are walked blindly (`struct_field.key.nested_key`, grpc-gateway's
    `buildPathsBlindly`); maps, repeated fields, `ListValue` and the other well-known types are
    leaves; repeated and map paths come last, as field_mask.proto asks.
    """
    paths: list[str] = []
    tail: list[str] = []

    def blind(obj: dict[str, Any], prefix: str) -> None:
        for key, value in obj.items():
            if isinstance(value, dict):
                blind(value, f"{prefix}{key}.")  # an empty object adds no path, as in Go
            else:
                paths.append(f"{prefix}{key}")

    def walk(obj: dict[str, Any], d: descriptor.Descriptor, prefix: str) -> None:
        for key, value in obj.items():
            fd = d.fields_by_name.get(key) or next(
                (f for f in d.fields if f.json_name == key), None
            )
            if fd is None:
                continue  # unknown JSON fields are discarded, as the body decoder does
            path = f"{prefix}{fd.name}"
            if fd.is_repeated:
                tail.append(path)
            elif fd.message_type is not None and message_type(fd).full_name in _DYNAMIC:
                if isinstance(value, dict):
                    blind(value, path + ".")
                else:
                    paths.append(path)
            elif (
                fd.message_type is not None
                and isinstance(value, dict)
                and message_type(fd).full_name not in _BLIND | STRING_FORM | WRAPPERS
                and message_type(fd).full_name != "google.protobuf.Any"
            ):
                if value:
                    walk(value, fd.message_type, path + ".")
            else:
                paths.append(path)

    walk(body, desc, "")
    return paths + tail


def parse_json_body(raw: bytes) -> Any:
    """The JSON value of a request body (None when empty); 400 when it is not JSON."""
    if not raw or raw.isspace():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("", f"the request body is not valid JSON: {exc}") from None
