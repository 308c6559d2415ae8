"""The pages the gateway serves besides the API: documents, docs page and web UI.

* ``/openapi.json``: OpenAPI 3.0.3 of every service the gateway fronts;
* ``/swagger.json``: the Swagger 2.0 rendering;
* ``/docs``: Swagger UI, its assets served from the ``swagger-ui-bundle`` wheel (never
  a CDN), pointed at ``/openapi.json``;
* ``/`` and every file of the web UI (``colonnade.web``: ``/app.js``, ``/cart.js``…), the
  same files CloudFront serves from S3 in AWS.

Documents are generated once, on first request, from the same descriptor sets as the
routes, so they always describe what this gateway does.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path

import orjson

from colonnade.gateway.openapi import Options, generate

OPENAPI_PATH = "/openapi.json"
SWAGGER_PATH = "/swagger.json"
DOCS_PATH = "/docs"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} — API documentation</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

# Kept out of the page so a strict Content-Security-Policy (no inline scripts) holds.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
"""

Response = tuple[int, str, bytes]


def _web_root() -> Path:
    from importlib import resources

    return Path(str(resources.files("colonnade.web")))


#: The kinds of file the web UI is made of (its Python package files are not served).
WEB_SUFFIXES = frozenset({".html", ".js", ".css", ".svg", ".png", ".ico"})


def _web_files() -> dict[str, str]:
    """URL path → file name for every file of the web UI: the folder's files, as the cdn
    module uploads them (flat: the UI has no sub-folders), and ``/`` for ``index.html``."""
    files = {
        f"/{entry.name}": entry.name
        for entry in _web_root().iterdir()
        if entry.is_file() and entry.suffix in WEB_SUFFIXES
    }
    return {"/": "index.html", **files}


WEB_FILES = _web_files()

# Every path answered here: one set lookup (and one prefix test) per request tells the rest.
PAGES = frozenset({*WEB_FILES, OPENAPI_PATH, SWAGGER_PATH, DOCS_PATH, DOCS_PATH + "/"})
ASSETS = DOCS_PATH + "/"


def _assets() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(str(swagger_ui_path))


class ApiDocs:
    """Answers the pages above; :meth:`handle` returns ``None`` for any other path."""

    def __init__(self, descriptor_sets: Sequence[str | Path], title: str = "Colonnade API") -> None:
        self._sets = list(descriptor_sets)
        self._title = title
        self._cache: dict[str, bytes] = {}

    def _document(self, fmt: str) -> bytes:
        if fmt not in self._cache:
            doc = generate(self._sets, fmt, Options(title=self._title))  # type: ignore[arg-type]
            self._cache[fmt] = orjson.dumps(doc)
        return self._cache[fmt]

    def handle(self, method: str, path: str) -> Response | None:
        """The page at `path`, or None when the path is not one of these pages."""
        if method not in ("GET", "HEAD") or (path not in PAGES and not path.startswith(ASSETS)):
            return None
        web = WEB_FILES.get(path)
        if web is not None:
            kind = mimetypes.guess_type(web)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            return 200, kind, (_web_root() / web).read_bytes()
        if (
            path not in (OPENAPI_PATH, SWAGGER_PATH)
            and path != DOCS_PATH
            and not path.startswith(DOCS_PATH + "/")
        ):
            return None
        if path == OPENAPI_PATH:
            return 200, "application/json", self._document("openapi3")
        if path == SWAGGER_PATH:
            return 200, "application/json", self._document("swagger2")
        if path in (DOCS_PATH, DOCS_PATH + "/"):
            return 200, "text/html; charset=utf-8", _PAGE.format(title=self._title).encode()
        name = path[len(DOCS_PATH) + 1 :]
        if name == "init.js":
            return 200, "application/javascript", _INIT.encode()
        asset = _assets() / name
        if "/" in name or name.startswith(".") or not asset.is_file():
            return None
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return 200, kind, asset.read_bytes()
