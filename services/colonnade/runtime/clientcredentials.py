"""A service identity from an OAuth 2.0 token endpoint: the client credentials grant.

In AWS the token issuer is an Amazon Cognito user pool. A calling service (the gateway,
orders) is an app client of it with a secret; it asks the pool's token endpoint
(``https://<domain>/oauth2/token``) for an access token holding the scopes it needs
(RFC 6749 §4.4: ``grant_type=client_credentials``, the client authenticated with HTTP Basic,
§2.3.1) and presents that token on every call, like a token it minted itself
(:class:`~colonnade.runtime.auth.ServiceIdentity`).

Calls never wait for the endpoint: :meth:`ClientCredentials.start` fetches the first token
at start-up (a wrong secret or URL stops the service there, not on its first call), and a
background task fetches the next one ``refresh_margin`` seconds before the current one
expires, retrying failures with a growing pause. :meth:`ClientCredentials.authorization`
only reads the current token. If every retry fails until the token expires, calls carry the
expired token and the callee refuses them (UNAUTHENTICATED), with the failures logged here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable

from colonnade.runtime.auth import AuthError, is_loopback_url

log = logging.getLogger("colonnade.auth")

#: Pauses between failed refreshes grow to this (seconds).
MAX_RETRY_PAUSE = 30.0


class ClientCredentials:
    """Access tokens for one app client (see the module docstring)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Iterable[str],
        *,
        refresh_margin: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token_url.startswith("https://") and not (
            token_url.startswith("http://") and is_loopback_url(token_url)
        ):
            raise ValueError(f"the token endpoint must be https:// (got {token_url!r})")
        if not client_id or not client_secret:
            raise ValueError("client credentials need a client id and a client secret")
        self.token_url = token_url
        self.client_id = client_id
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.scopes = tuple(scopes)
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self.clock = clock
        self._token = ""
        self.expires_at = 0.0
        self.fetches = 0
        self._task: asyncio.Task[None] | None = None

    def fetch(self) -> None:
        """Asks the token endpoint for a token now (blocking); AuthError saying why not."""
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        request = urllib.request.Request(
            self.token_url,
            data=urllib.parse.urlencode(form).encode(),
            method="POST",
            headers={
                "authorization": f"Basic {self._basic}",
                "content-type": "application/x-www-form-urlencoded",
                "accept": "application/json",
            },
        )
        asked = self.clock()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                body = json.loads(resp.read(1 << 20))
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read(4096).decode(errors="replace")
            raise AuthError(
                f"the token endpoint refused client {self.client_id}: {exc.code} {detail}"
            ) from None
        except (OSError, ValueError) as exc:
            raise AuthError(f"the token endpoint {self.token_url} failed: {exc}") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token endpoint answered without an access_token: {body!r}")
        if not isinstance(expires_in, int | float) or expires_in <= 0:
            raise AuthError(f"the token endpoint answered without expires_in: {body!r}")
        token_type = str(body.get("token_type", "Bearer"))
        if token_type.lower() != "bearer":
            raise AuthError(f"the token endpoint issued a {token_type} token, not a Bearer one")
        self._token, self.expires_at = token, asked + float(expires_in)
        self.fetches += 1

    @property
    def refresh_at(self) -> float:
        """When the next token is fetched: `refresh_margin` before expiry (or half-way, for
        tokens shorter-lived than twice the margin)."""
        lifetime = self.expires_at - self.clock()
        return self.expires_at - min(self.refresh_margin, max(lifetime, 0.0) / 2)

    async def start(self) -> None:
        """The first token (AuthError when there is none), then the background refresher."""
        await asyncio.to_thread(self.fetch)
        self._task = asyncio.get_running_loop().create_task(
            self._refresher(), name=f"client credentials {self.client_id}"
        )

    async def _refresher(self) -> None:
        pause = 1.0
        while True:
            await asyncio.sleep(max(self.refresh_at - self.clock(), 0.0))
            try:
                await asyncio.to_thread(self.fetch)
                pause = 1.0
            except AuthError as exc:
                log.error(
                    "token refresh failed; retrying",
                    extra={"error": exc.message, "expires_in": self.expires_at - self.clock()},
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_PAUSE)

    async def close(self) -> None:
        """Stops the background refresher."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def token(self) -> str:
        """The current access token; AuthError before :meth:`start` got one."""
        if not self._token:
            raise AuthError(f"client {self.client_id} has no token yet (not started)")
        return self._token

    def authorization(self) -> str:
        """The `authorization` metadata value."""
        return "Bearer " + self.token()
