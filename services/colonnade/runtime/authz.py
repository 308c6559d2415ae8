"""The auth interceptor: every service enforces its contract's policies itself.

A service never trusts the network. With ``AUTH_MODE=enforce`` (the default once
``AUTH_JWKS`` is set) every call to a method whose policy is not public must carry
``authorization: Bearer <token>``, verified like the gateway verifies it
(:mod:`colonnade.runtime.auth`), whose scopes cover the method's policy:

* no or bad token → ``UNAUTHENTICATED``; valid token, missing scope → ``PERMISSION_DENIED``;
* a **user or machine token** is its own principal; any ``x-colonnade-principal`` /
  ``x-colonnade-scopes`` metadata it sends is ignored;
* a **trusted delegate** (``AUTH_TRUSTED_DELEGATES``, by default ``service:gateway``) calls
  on behalf of the caller it verified: the principal and scopes are the ones it forwards in
  that metadata (the gateway strips any client-sent copy first). The delegate's own token
  must still verify, so a direct caller cannot claim to be the gateway;
* a **service identity** (``service:orders`` calling catalog's reservations) is a token
  like any other, minted by the calling service with its own key.

Health checks and reflection are not behind it (load balancers have no token).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc

from colonnade.runtime.auth import (
    PRINCIPAL_KEY,
    SCOPES_KEY,
    TIER_KEY,
    AuthError,
    Principal,
    TokenVerifier,
    bearer_token,
)
from colonnade.runtime.handlers import with_behaviour
from colonnade.runtime.policy import EdgePolicy

log = logging.getLogger("colonnade.auth")

#: Services every caller may reach without credentials.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _metadata(items: Iterable[Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in items or ():
        if isinstance(value, str):
            out.setdefault(key, value)
    return out


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Enforces each method's policy (see the module docstring)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        policies: Mapping[str, EdgePolicy],
        trusted_delegates: Iterable[str] = ("service:gateway",),
    ) -> None:
        self.verifier = verifier
        self.policies = dict(policies)
        self.delegates = frozenset(trusted_delegates)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        refused = await self.refusal(
            handler_call_details.method, handler_call_details.invocation_metadata
        )
        return handler if refused is None else _refusal(handler, *refused)

    def wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """``handler`` deciding first, in the call, what :meth:`intercept_service` decides
        before it (a server wraps its handlers once with it)."""
        if method.startswith(OPEN_PREFIXES):
            return handler

        def guarded(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def refuse_or_none(context: grpc.aio.ServicerContext[Any, Any]) -> None:
                refused = await self.refusal(method, context.invocation_metadata())
                if refused is not None:
                    await context.abort(*refused)

            if inspect.isasyncgenfunction(behaviour):

                async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                    await refuse_or_none(context)
                    async for response in behaviour(request, context):
                        yield response

                return stream

            async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                await refuse_or_none(context)
                return await behaviour(request, context)

            return unary

        return with_behaviour(handler, guarded)

    async def refusal(
        self, method: str, metadata: Iterable[Any] | None
    ) -> tuple[grpc.StatusCode, str] | None:
        """Why a call of ``method`` with ``metadata`` is refused (its code and message), or
        None when its policy lets it through."""
        if method.startswith(OPEN_PREFIXES):
            return None
        policy = self.policies.get(method)
        if policy is None:  # a service registered without a contract policy: closed
            return grpc.StatusCode.PERMISSION_DENIED, f"{method} declares no policy"
        md = _metadata(metadata)
        token = bearer_token(md.get("authorization"))
        if token is None:
            if policy.public:
                return None
            return (
                grpc.StatusCode.UNAUTHENTICATED,
                f"{method} needs a bearer token (authorization metadata)",
            )
        try:
            principal = await self.verifier.verify(token)
        except AuthError as exc:
            return grpc.StatusCode.UNAUTHENTICATED, exc.message
        if policy.public:  # a valid token is all a public method asks (the hot reads)
            return None
        if principal.subject in self.delegates and PRINCIPAL_KEY in md:
            principal = Principal(
                subject=md[PRINCIPAL_KEY],
                scopes=frozenset(md.get(SCOPES_KEY, "").split()),
                kind="delegated",
                tier=md.get(TIER_KEY, "standard"),
            )
        missing = policy.missing(principal.scopes)
        if missing:
            return (
                grpc.StatusCode.PERMISSION_DENIED,
                f"{principal.subject} lacks scope {' '.join(missing)} for {method}",
            )
        return None


def _refusal(
    handler: grpc.RpcMethodHandler[Any, Any], code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as `handler` that ends the call with `code`."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)

    async def refuse_stream(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)
        yield  # pragma: no cover - abort raises

    return with_behaviour(
        handler,
        lambda behaviour: refuse_stream if inspect.isasyncgenfunction(behaviour) else refuse,
    )
