"""The OpenAPI document: valid OpenAPI 3.1, complete, and true to the views it describes."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web

from libs.registry.models import Account, AlpacaConfig, BreakerConfig, Strategy, Tenant
from libs.registry.views import account_view, strategy_view, tenant_view
from services.api.app import build_operator_app
from services.api.context import ApiContext
from services.api.openapi import document
from services.ingress.app import build_public_app, serves_publicly
from services.ingress.context import IngressContext

METHODS = {"get", "post", "put", "patch", "delete"}


def _routes(app: web.Application) -> set[tuple[str, str]]:
    return {(route.method.lower(), route.resource.canonical)
            for route in app.router.routes()
            if route.resource is not None and route.method.lower() in METHODS}


def _apps() -> tuple[web.Application, web.Application]:
    # The builders only keep the context and read the body limit from it.
    ctx = SimpleNamespace(settings=SimpleNamespace(max_body_bytes=65536))
    return (build_public_app(cast(IngressContext, ctx)),
            build_operator_app(cast(ApiContext, ctx)))


def _registered_routes() -> set[tuple[str, str]]:
    public, operator = _apps()
    return _routes(public) | _routes(operator)


def _documented_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, item in document()["paths"].items()
            for method in item if method in METHODS}


def test_the_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(document())
    schema.validate()  # raises on anything the OpenAPI 3.1 meta-schema refuses
    assert document()["openapi"].startswith("3.1")


def test_every_registered_route_is_documented_and_nothing_else() -> None:
    registered = _registered_routes()
    assert ("get", "/openapi.json") in registered
    assert registered == _documented_routes()


def test_the_public_listener_serves_only_webhooks_and_health() -> None:
    public, operator = _apps()
    assert {path for _, path in _routes(public)} == {
        "/webhook", "/webhook/{tenant}/{slug}", "/webhook/{slug}", "/api/v1/webhooks/signals",
        "/healthz", "/readyz"}
    operator_paths = {path for _, path in _routes(operator)}
    assert {"/metrics", "/openapi.json", "/api/v1/accounts", "/api/v1/stream"} <= operator_paths
    assert not any(path.startswith("/webhook") for path in operator_paths)
    assert "/" in operator_paths  # the console, beside the API it calls
    # The fuzz tests and the harness route by this; it agrees with the apps.
    for _, path in _routes(public) | _routes(operator):
        assert serves_publicly(path) == (path in {p for _, p in _routes(public)}), path


def test_every_operation_documents_its_errors_and_security() -> None:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            admin = path.startswith("/api/v1/") and path != "/api/v1/webhooks/signals"
            if admin:
                assert "401" in op["responses"], (method, path)
                assert op["security"], (method, path)
            for status, answer in op["responses"].items():
                if status == "400" and "content" not in answer:
                    # aiohttp's own plain-text refusal of an over-long request line
                    assert "8190 bytes" in answer["description"], (method, path)
                elif status.startswith(("4", "5")) and path not in ("/readyz", "/healthz"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/Error"), (method, path, status)


def _validator(name: str) -> Any:
    # The whole document as the root, so the schemas' "#/components/..." refs resolve.
    root = {"$ref": f"#/components/schemas/{name}", "components": document()["components"]}
    return jsonschema_rs.Draft202012Validator(root)


TENANT = Tenant(id="t1", name="Tenant One")
ACCOUNT = Account(id="a1", tenant_id="t1", name="Paper", fee_bps=Decimal("1.5"),
                  alpaca=AlpacaConfig(key_id="k", secret_key="s"),
                  breaker=BreakerConfig(base_equity=Decimal(1000), global_sl_pct=Decimal(90)))
STRATEGY = Strategy(id="s1", tenant_id="t1", account_id="a1", name="S", slug="s",
                    secret="whsec_x", ip_allowlist=["tradingview"], sl_pct=Decimal(1))


@pytest.mark.parametrize(("name", "view"), [
    ("TenantView", tenant_view(TENANT)),
    ("AccountView", account_view(ACCOUNT)),
    ("StrategyView", strategy_view(STRATEGY)),
])
def test_views_match_their_schemas(name: str, view: dict[str, Any]) -> None:
    _validator(name).validate(view)


def test_a_view_with_a_field_missing_or_a_secret_breaks_the_schema() -> None:
    """The view schemas are strict enough to catch a regression in the views."""
    missing = {k: v for k, v in tenant_view(TENANT).items() if k != "active"}
    assert not _validator("TenantView").is_valid(missing)
    leaked = {**strategy_view(STRATEGY), "secret": 7}
    assert not _validator("StrategyView").is_valid(leaked)
    assert not _validator("Error").is_valid({"error": "x", "message": "y", "secret": "z"})


def test_request_bodies_leave_out_what_the_server_sets() -> None:
    schemas = document()["components"]["schemas"]
    create = schemas["StrategyCreate"]["properties"]
    assert not {"id", "slug", "secret", "previous_secret"} & create.keys()
    assert "id" not in schemas["TenantPatch"]["properties"]
    assert "broker" not in schemas["AccountPatch"]["properties"]
    assert "required" not in schemas["StrategyPatch"]
