"""The console's page and assets as the operator app serves them, and the OpenAPI
document its client types are generated from."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libs.http.middleware import problems_middleware
from services.api.console import assets
from services.api.console.dump_openapi import dumped

ROOT = Path(__file__).resolve().parents[2]


async def _client(static: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(assets, "STATIC", static)
    app = web.Application(middlewares=[problems_middleware])
    assets.add_routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_the_page_and_its_hashed_assets_are_served(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>console</html>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    client = await _client(tmp_path, monkeypatch)
    try:
        page = await client.get("/")
        assert page.status == 200 and await page.text() == "<html>console</html>"
        assert page.headers["Cache-Control"] == "no-cache"
        js = await client.get("/assets/index-abc.js")
        assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
        assert "immutable" in js.headers["Cache-Control"]
        for name in ("nope.js", "..%2Findex.html", ".hidden"):
            missing = await client.get(f"/assets/{name}")
            assert missing.status == 404, name
    finally:
        await client.close()


async def test_an_unbuilt_console_says_how_to_build_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await _client(tmp_path / "missing", monkeypatch)
    try:
        page = await client.get("/")
        assert page.status == 200
        assert "make console" in await page.text()
    finally:
        await client.close()


def test_the_committed_openapi_document_is_the_served_one() -> None:
    """console/src/api/schema.d.ts is generated from console/openapi.json: both must
    follow the API (``make console-api`` regenerates them)."""
    committed = (ROOT / "console" / "openapi.json").read_text()
    assert committed == dumped(), "run make console-api"
