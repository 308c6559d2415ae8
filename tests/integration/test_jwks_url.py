"""Token verification against a JWKS served over HTTP (a real server on loopback)."""

from __future__ import annotations

import pytest

from colonnade.runtime.auth import AuthSettings, SigningKey, TokenVerifier, jwks_document
from tests.unit.test_auth import AUD, ISS, Clock, mint

pytestmark = pytest.mark.integration


async def test_a_jwks_url_is_fetched_cached_and_refetched_on_rotation() -> None:
    """The JWKS served over HTTP on loopback (https:// in deployments; http:// is allowed
    for loopback only): one fetch at start-up, none per token, one per rotation."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key = SigningKey.generate("ec-1")
    served = {"doc": jwks_document([key])}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = served["doc"].encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        clock = Clock()
        verifier = TokenVerifier(
            AuthSettings(jwks=url, issuer=ISS, audience=AUD, jwks_min_refresh=30), clock=clock
        )
        verifier.start()
        for sub in ("a", "b", "c"):
            assert (await verifier.verify(mint(key, sub=sub))).subject == sub
        assert len(hits) == 1
        rotated = SigningKey.generate("ec-9")
        served["doc"] = jwks_document([key, rotated])
        clock.now += 31
        assert (await verifier.verify(mint(rotated))).subject == "alice"
        assert len(hits) == 2
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ValueError, match="must be https"):
        AuthSettings(jwks="http://issuer.example/jwks.json").check()
