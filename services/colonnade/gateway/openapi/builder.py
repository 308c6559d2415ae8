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
from colonnade.runtime.policy import EdgePolicy, PolicyError, service_policies

#: Response headers the edge policies add, documented on the answers that carry them.
RATE_HEADERS = {
    "RateLimit-Limit": "Requests allowed in the window nearest to exhaustion",
    "RateLimit-Remaining": "Requests left in that window",
    "RateLimit-Reset": "Seconds until that window ends",
    "RateLimit-Policy": "Both windows of the method's rate-limit class: `N;w=1, M;w=60`",
}
CACHE_HEADERS = {
    "ETag": "Strong entity tag of the body: send it back in If-None-Match for a 304",
    "Cache-Control": "`public` or `private` (answers keyed by caller), `max-age` = the TTL",
}


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
        self.policies: dict[str, EdgePolicy] = {}
        for service in self.registry.services():
            try:  # a contract without policies (the gateway's own tests) documents none
                self.policies.update(service_policies(service))
            except PolicyError:
                continue

    # edge policies ----------------------------------------------------------------------

    def policy(self, route: Route) -> EdgePolicy | None:
        """The method's edge policy, when its contract declares one."""
        return self.policies.get(route.grpc_path)

    def policy_note(self, policy: EdgePolicy) -> str:
        """One paragraph for the operation's description."""
        who = (
            "Public: no credentials needed."
            if policy.public
            else "Requires scope " + ", ".join(f"`{s}`" for s in policy.scopes) + "."
        )
        text = f"{who} Rate-limit class `{policy.rate_limit_class}`."
        if policy.cache_ttl:
            whose = "per caller" if policy.cache_varies_by_caller else "shared by all callers"
            text += f" Cached {policy.cache_ttl} s ({whose})."
        return text

    @staticmethod
    def policy_extension(policy: EdgePolicy) -> dict[str, Any]:
        """`x-colonnade-policy`: what the API Gateway module and the authorizer read."""
        return {
            "public": policy.public,
            "scopes": list(policy.scopes),
            "rateLimitClass": policy.rate_limit_class,
            "cacheTtlSeconds": policy.cache_ttl,
            "cacheVariesByCaller": policy.cache_varies_by_caller,
        }

    @staticmethod
    def policy_errors(policy: EdgePolicy) -> dict[int, dict[str, str]]:
        """The error answers a policy adds, with the headers each carries."""
        out: dict[int, dict[str, str]] = {}
        if not policy.public:
            out[401] = {"WWW-Authenticate": "RFC 6750 Bearer challenge saying what was wrong"}
            out[403] = {
                "WWW-Authenticate": 'Bearer error="insufficient_scope" with the scopes required'
            }
        out[429] = {"Retry-After": "Seconds until the full window ends", **RATE_HEADERS}
        return out

    @staticmethod
    def policy_success_headers(policy: EdgePolicy) -> dict[str, str]:
        """The headers a successful answer carries under a policy."""
        return {**RATE_HEADERS, **(CACHE_HEADERS if policy.cache_ttl else {})}

    def path(self, route: Route, fmt: Format | None = None) -> tuple[str, list[PathParam]]:
        return render_path(route, fmt or self.fmt, self.registry, self._shapes)

    def operation_head(self, op: Operation) -> dict[str, Any]:
        """The start of an operation object: id, tag, summary and description (with the
        method's edge policy, when it has one)."""
        operation: dict[str, Any] = {"operationId": op.operation_id, "tags": [op.tag]}
        if op.summary:
            operation["summary"] = op.summary
        description = op.description
        policy = self.policy(op.route)
        if policy is not None:
            note = self.policy_note(policy)
            description = f"{description}\n\n{note}" if description else note
            operation["x-colonnade-policy"] = self.policy_extension(policy)
        if description:
            operation["description"] = description
        return operation

    def if_none_match(self) -> dict[str, Any]:
        """The `If-None-Match` header parameter of a cached GET."""
        param: dict[str, Any] = {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "An ETag from an earlier answer: 304 Not Modified when it matches",
        }
        if self.fmt == "swagger2":
            param["type"] = "string"
        else:
            param["schema"] = {"type": "string"}
        return param

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
