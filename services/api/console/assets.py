"""Serving the console's built assets: ``GET /`` (the page) and ``GET /assets/{name}``.

The page is answered with ``Cache-Control: no-cache`` (a new build is seen at once);
the assets have content hashes in their names, so they are cached for a year. When the
console was never built, ``/`` answers a page that says how to build it, so the API
keeps working without Node.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from libs.http.problems import Problem

STATIC = Path(__file__).parent / "static"
# Vite's output names: letters, digits, '-', '_' and dots; no path separators, so
# nothing outside the assets folder can be named.
_ASSET = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2",
          ".json": "application/json", ".map": "application/json"}

NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>tradehooks</title>
</head><body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>The tradehooks console is not built</h1>
<p>The operator API works; only the web console's files are missing. Build them with
<code>make console</code> (needs Node.js 20 and npm), or install a tradehooks wheel,
which ships them.</p></body></html>"""


def built(static: Path = STATIC) -> bool:
    """Whether the console's page is there to serve."""
    return (static / "index.html").is_file()


async def index(_: web.Request) -> web.Response:
    """``GET /``: the console's page (or how to build it)."""
    page = STATIC / "index.html"
    if not page.is_file():
        return web.Response(text=NOT_BUILT, content_type="text/html",
                            headers={"Cache-Control": "no-cache"})
    return web.Response(body=page.read_bytes(), content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def asset(request: web.Request) -> web.Response:
    """``GET /assets/{name}``: one built file (404 for anything else)."""
    name = request.match_info["name"]
    path = STATIC / "assets" / name
    if not _ASSET.match(name) or name.startswith(".") or not path.is_file():
        raise Problem(404, "not_found", "no such console asset", field="name")
    content_type = _TYPES.get(path.suffix, "application/octet-stream")
    return web.Response(body=path.read_bytes(), headers={
        "Content-Type": content_type,
        "Cache-Control": "public, max-age=31536000, immutable"})


def add_routes(app: web.Application) -> None:
    """Mount the console on ``app`` (the one serving ``/api/v1``)."""
    app.router.add_get("/", index)
    app.router.add_get("/assets/{name}", asset)
