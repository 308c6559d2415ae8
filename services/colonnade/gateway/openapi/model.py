"""The model every rendering shares: formats, options, operations and their statuses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from colonnade.gateway.routing import Route

Format = Literal["openapi3", "swagger2", "aws"]
FORMATS: tuple[Format, ...] = ("openapi3", "swagger2", "aws")

STATUS = "google.rpc.Status"
#: Replaced by the api-gateway module with the authorizer function's invoke ARN.
AUTHORIZER_URI_PLACEHOLDER = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:000000000000:function:colonnade-authorizer/invocations"
)
AUTHORIZER_SCHEME = "colonnade_jwt"
STATUS_TEXT = {
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
    # The Lambda REQUEST authorizer (colonnade.gateway.authorizer) on every non-public
    # method; the Terraform module puts the function's invoke ARN in place of this one.
    authorizer: bool = True
    authorizer_uri: str = AUTHORIZER_URI_PLACEHOLDER
    authorizer_ttl_seconds: int = 300
    integration_timeout_ms: int = 29_000


@dataclass
class Operation:
    route: Route
    operation_id: str
    tag: str
    summary: str
    description: str


def tag_names(services: Iterable[str]) -> dict[str, str]:
    """Each service's tag: its short name (grpc-gateway's), or its full name when two
    services share the short name (two versions of one API), since tags must be unique."""
    names = set(services)
    shorts = Counter(s.rsplit(".", 1)[-1] for s in names)
    return {s: s if shorts[s.rsplit(".", 1)[-1]] > 1 else s.rsplit(".", 1)[-1] for s in names}


def operations(routes: list[Route], comments: dict[str, str]) -> list[Operation]:
    seen: dict[str, int] = {}
    ops = []
    tags = tag_names(r.service for r in routes)
    for route in routes:
        service_short = route.service.rsplit(".", 1)[-1]
        base = f"{service_short}_{route.method}"
        seen[base] = seen.get(base, 0) + 1
        op_id = base if seen[base] == 1 else f"{base}{seen[base]}"
        text = comments.get(f"{route.service}.{route.method}", "")
        summary, _, rest = text.partition("\n\n")
        ops.append(Operation(route, op_id, tags[route.service], summary.replace("\n", " "), rest))
    return ops


PATH_ITEM_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def path_item_methods(route: Route) -> list[str]:
    """The OpenAPI operations of a route: a custom `*` rule stands for the usual five;
    a custom kind OpenAPI has no slot for (e.g. TRACE) is not documented."""
    if route.http_method == "*":
        return ["get", "put", "post", "delete", "patch"]
    method = route.http_method.lower()
    return [method] if method in PATH_ITEM_METHODS else []


def error_statuses(route: Route) -> list[int]:
    codes = [400, 404, 500, 503, 504]
    if route.http_method in ("POST", "PUT", "PATCH", "DELETE", "*"):
        codes.insert(2, 409)
    if route.body:
        codes[1:1] = [413, 415]
    return sorted(set(codes))
