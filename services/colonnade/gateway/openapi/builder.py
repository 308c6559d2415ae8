"""The document builder every rendering starts from."""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor, descriptor_pb2

from colonnade.gateway.descriptors import build_registry
from colonnade.gateway.openapi.model import STATUS, Format, Operation, Options, tag_names
from colonnade.gateway.openapi.paths import PathParam, query_fields, render_path
from colonnade.gateway.openapi.protodoc import behaviors, comments
from colonnade.gateway.openapi.schemas import FD, Schemas
from colonnade.gateway.routing import Route, load_routes


class DocumentBuilder:
    """What every rendering does alike: routes, paths, parameters, bodies, schemas, tags.

    The subclasses (openapi3.py, aws.py, swagger2.py) turn it into one document format.
    """

    fmt: Format = "openapi3"

    def __init__(self, sets: list[descriptor_pb2.FileDescriptorSet], options: Options) -> None:
        self.options = options
        self.comments = comments(sets)
        self.registry = build_registry(sets)
        self.routes = load_routes(self.registry)
        self.schemas = Schemas(self.fmt, self.comments)
        self._shapes: dict[str, list[str]] = {}

    def path(self, route: Route, fmt: Format | None = None) -> tuple[str, list[PathParam]]:
        return render_path(route, fmt or self.fmt, self.registry, self._shapes)

    def operation_head(self, op: Operation) -> dict[str, Any]:
        """The start of an operation object: id, tag, summary and description."""
        operation: dict[str, Any] = {"operationId": op.operation_id, "tags": [op.tag]}
        if op.summary:
            operation["summary"] = op.summary
        if op.description:
            operation["description"] = op.description
        return operation

    # parameters -------------------------------------------------------------------------

    def param_schema(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        schema = self.schemas.single(fd)
        if "$ref" in schema and fd.type == FD.TYPE_ENUM:
            return self.schemas.components[schema["$ref"].rsplit("/", 1)[-1]] | {}
        return schema

    def parameter(
        self,
        name: str,
        where: str,
        fd: descriptor.FieldDescriptor,
        required: bool,
        description: str = "",
        pattern: str = "",
    ) -> dict[str, Any]:
        schema = self.param_schema(fd)
        if self.fmt != "swagger2" and where == "path":
            schema = {"type": "string"} if schema.get("type") == "string" else schema
        if fd.is_repeated:
            schema = {"type": "array", "items": schema}
        param: dict[str, Any] = {"name": name, "in": where, "required": required}
        if description:
            param["description"] = description
        # A repeated path variable takes one comma-separated value (grpc-gateway's binding),
        # a repeated query parameter one parameter per value.
        if self.fmt == "swagger2":
            param.update({k: v for k, v in schema.items() if k != "description"})
            if fd.is_repeated:
                param["collectionFormat"] = "csv" if where == "path" else "multi"
            if pattern:
                param["pattern"] = pattern
        else:
            param["schema"] = schema
            if fd.is_repeated and where == "path":
                param.update({"style": "simple", "explode": False})
            elif fd.is_repeated:
                param.update({"style": "form", "explode": True})
        return param

    def field_comment(self, fd: descriptor.FieldDescriptor) -> str:
        owner = fd.containing_type
        return self.comments.get(f"{owner.full_name}.{fd.name}", "") if owner else ""

    def string_parameter(self, name: str, description: str) -> dict[str, Any]:
        param: dict[str, Any] = {"name": name, "in": "path", "required": True}
        param["description"] = description
        if self.fmt == "swagger2":
            param["type"] = "string"
        else:
            param["schema"] = {"type": "string"}
        return param

    def parameters(self, op: Operation, path_params: list[PathParam]) -> list[dict[str, Any]]:
        route = op.route
        out = []
        for p in path_params:
            if not p.chain:
                out.append(
                    self.string_parameter(p.name, "Any value: this segment is bound to no field.")
                )
                continue
            leaf = p.chain[-1]
            text = self.field_comment(leaf)
            out.append(self.parameter(p.name, "path", leaf, True, text, p.pattern))
        if route.body == "*":
            return out
        bound = {".".join(f.name for f in chain) for chain in route.path_fields}
        if route.body_field is not None:
            bound.add(route.body_field.name)
        for name, fd in query_fields(route.request, "", bound, 0):
            text = self.field_comment(fd)
            if route.patch_mask_field is not None and fd is route.patch_mask_field:
                note = "When omitted on PATCH, the gateway builds it from the fields in the body."
                text = f"{text}\n\n{note}" if text else note
            out.append(self.parameter(name, "query", fd, False, text))
        return out

    # bodies and responses ---------------------------------------------------------------

    def body_schema(self, route: Route) -> tuple[dict[str, Any], bool, str]:
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
        return schema, field_behavior_pb2.REQUIRED in behaviors(fd), text

    def stream_body_text(self, route: Route) -> str:
        """The description of a client-streaming request body."""
        text = self.comments.get(route.request.full_name, "")
        note = (
            "A stream of request messages: one JSON object per line (or simply one after "
            "another), each sent to the backend as it arrives"
            + (
                "; response lines are written while the request is still being sent."
                if route.server_streaming
                else "; the one response follows the end of the body."
            )
        )
        return f"{text}\n\n{note}" if text else note

    def success_schema(self, route: Route) -> dict[str, Any] | None:
        if route.success_status == 204:
            return None
        if route.response_field is not None:
            return self.schemas.field_schema(route.response_field)
        return self.schemas.message(route.response)

    def status_schema(self) -> dict[str, Any]:
        return self.schemas.message(self.registry.pool.FindMessageTypeByName(STATUS))

    # openapi 3 ----------------------------------------------------------------------------

    def tags(self) -> list[dict[str, str]]:
        tags = []
        names = tag_names(r.service for r in self.routes)
        for service in sorted(names):
            tag = {"name": names[service]}
            text = self.comments.get(service)
            if text:
                tag["description"] = text
            tags.append(tag)
        return tags

    # swagger 2 ----------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        """The whole document in this builder's format."""
        raise NotImplementedError
