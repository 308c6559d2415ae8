"""A local stand-in for the Amazon Cognito user pool that issues Colonnade's tokens in AWS.

It answers the two things the services and the gateway use of the pool, in the pool's shape:

* ``GET <path>/.well-known/jwks.json``: the public key of its signing key (ES256 here; the
  pool signs RS256: the verifier allows each key exactly its own algorithm either way);
* ``POST /oauth2/token`` (the pool's token endpoint, client credentials grant): the client
  authenticated with HTTP Basic, a form body with ``grant_type=client_credentials`` and
  optionally ``scope`` (space-separated, each ``<resource server>/<scope>``; none asks for
  every scope the client is allowed). Errors are Cognito's: ``400 {"error":
  "invalid_client" | "invalid_scope" | "unsupported_grant_type" | "invalid_request"}``.

Tokens carry what Cognito's access tokens carry and nothing more: ``sub`` (the client id for
client credentials), ``client_id``, ``token_use: access``, ``scope``, ``iss``, ``iat``,
``exp``, ``auth_time``, ``jti``, ``version``; no ``aud``. :meth:`Issuer.user_token` gives the
access token a user signed in through the web client would hold (``username`` too).

The rehearsal serves it (over TLS with its local CA) in place of the environments' pool; the
client credentials tests talk to it over loopback.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt

from colonnade.runtime.auth import SigningKey, jwks_document


@dataclass(frozen=True)
class AppClient:
    """One app client: its secret and the scopes it may be given (prefixed)."""

    secret: str
    scopes: frozenset[str]


@dataclass
class Issuer:
    """The pool (see the module docstring): `issuer` is the `iss` of its tokens."""

    issuer: str
    clients: Mapping[str, AppClient]
    key: SigningKey = field(default_factory=lambda: SigningKey.generate("standin-1"))
    ttl: int = 3600
    #: Every token request as (client id or "", form fields), for tests.
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def access_token(self, client_id: str, scopes: Iterable[str], /, **extra: Any) -> str:
        """An access token in Cognito's claim shape, signed with the stand-in's key (`extra`
        claims replace its own; None leaves one out)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": client_id,
            "client_id": client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "iss": self.issuer,
            "iat": now,
            "auth_time": now,
            "exp": now + self.ttl,
            "jti": secrets.token_hex(16),
            "version": 2,
            **extra,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(
            claims,
            self.key.private_pem,
            algorithm=self.key.algorithm,
            headers={"kid": self.key.kid},
        )

    def user_token(self, client_id: str, username: str, scopes: Iterable[str]) -> str:
        """The access token a user signed in through app client `client_id` holds."""
        return self.access_token(client_id, scopes, sub=str(uuid.uuid4()), username=username)

    def token_response(self, authorization: str, body: str) -> tuple[int, dict[str, Any]]:
        """The token endpoint's answer to one request: (status, JSON body)."""
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body).items()}
        client_id, secret = _basic(authorization)
        self.requests.append((client_id, form))
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return 400, {"error": "invalid_client"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        asked = form.get("scope", "").split()
        if any(s not in client.scopes for s in asked):
            return 400, {"error": "invalid_scope"}
        granted = asked or sorted(client.scopes)
        return 200, {
            "access_token": self.access_token(client_id, granted),
            "expires_in": self.ttl,
            "token_type": "Bearer",
        }

    def start(
        self, host: str = "127.0.0.1", port: int = 0, tls: tuple[Path, Path] | None = None
    ) -> str:
        """Serves it on `host:port` (TLS with `(cert, key)`); its base URL."""
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/jwks.json"):
                    self._send(200, json.loads(jwks_document([issuer.key])))
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                if self.path.split("?")[0] != "/oauth2/token":
                    self._send(404, {"error": "not found"})
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode(errors="replace")
                status, payload = issuer.token_response(self.headers.get("authorization", ""), body)
                self._send(status, payload)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True, name="issuer").start()
        self._server = server
        scheme = "https" if tls else "http"
        return f"{scheme}://{host}:{server.server_address[1]}"

    def stop(self) -> None:
        """Stops serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password
