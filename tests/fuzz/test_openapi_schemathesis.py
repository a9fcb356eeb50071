"""Schemathesis against the live system: the API keeps to its own OpenAPI document.

The document is loaded from the running ingress (``GET /openapi.json``) and every
operation in it is fuzzed with schema-valid and schema-violating requests. Every
answer must be no 5xx, and one the document declares: its status code, its content
type and its body schema. Nothing is left out: every operation of the document runs.

Random path ids only ever find nothing (404), so operations on records run a second
time with the ids of real ones (a provisioned tenant, account and strategy, a
stored signal, a spare API key), and create bodies name the real tenant and account:
that is where the answers with a record in them (views, trails, rotations) get
checked. Webhooks run with the admin key (a 401 after the body is read) and, in the
second pass, with the strategy's own secret.

Bounded and reproducible: derandomized, no example database, a fixed number of
examples per operation and pass.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from e2e.helpers import post_json, tv_alert
from harness import System, master_box, provision, remember_secret, wait_until
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts import streams
from libs.callbacks.deliveries import DeliveryLog
from libs.callbacks.endpoints import register_callback
from libs.registry.api_keys import ApiKeys
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Per operation and pass: 32 operations, up to 3 passes (positive, negative, known ids).
EXAMPLES = 20
# No shrinking: against live processes it can take minutes (CI once timed out mid-way),
# and the first failing request, as curl, is enough to reproduce.
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck), print_blob=False,
                phases=[Phase.explicit, Phase.reuse, Phase.generate])
# Body fields that name other records: set to the real ones in the known-ids pass.
BODY_REFERENCES = ("tenant_id", "account_id")


@dataclass
class Known:
    """Ids of real records (by path parameter name) and the credentials to use."""

    ids: dict[str, str]
    admin_key: str
    strategy_secret: str


@dataclass
class Pass:
    """One way to run an operation's examples."""

    name: str
    mode: GenerationMode
    headers: dict[str, str]
    path_parameters: dict[str, str] | None = None
    references: dict[str, str] | None = None


def _passes(operation: Any, known: Known) -> list[Pass]:
    admin = {"X-API-Key": known.admin_key}
    passes = [Pass("positive", GenerationMode.POSITIVE, admin)]
    # An operation without parameters or body (/healthz, /metrics …) has nothing to
    # make invalid: negative generation cannot produce a single case for it.
    if any((operation.path_parameters, operation.query, operation.headers, operation.body)):
        passes.append(Pass("negative", GenerationMode.NEGATIVE, admin))
    names = [p.name for p in operation.path_parameters]
    webhook = operation.path.startswith(("/webhook", "/api/v1/webhooks"))
    if webhook:
        passes.append(Pass("known", GenerationMode.POSITIVE,
                           {"X-API-Key": known.strategy_secret},
                           {n: known.ids[n] for n in names}))
    elif names:
        passes.append(Pass("known", GenerationMode.POSITIVE, admin,
                           {n: known.ids[n] for n in names}, known.ids))
    elif operation.body and operation.method.lower() == "post":
        passes.append(Pass("known", GenerationMode.POSITIVE, admin, None, known.ids))
    return passes


def _refer_to_known(case: Any, ids: dict[str, str]) -> Any:
    if isinstance(case.body, dict):
        for field in BODY_REFERENCES:
            if field in case.body:
                case.body[field] = ids[field]
    return case


def _fuzz_operation(operation: Any, how: Pass, base_url: str,
                    session: requests.Session) -> str | None:
    """``base_url``: the listener that serves the operation (public or operator)."""
    """Run one pass of an operation's examples; the first failure (shrunk), or None."""
    cases = operation.as_strategy(generation_mode=how.mode,
                                  path_parameters=how.path_parameters)
    if how.references:
        cases = cases.map(lambda case: _refer_to_known(case, how.references))

    @FUZZ
    @given(case=cases)
    def run(case: Any) -> None:
        if operation.path == "/api/v1/stream":
            # The live stream never ends by itself (schemathesis would read it until
            # its timeout): sent here, its headers checked, then closed.
            kwargs = case.as_transport_kwargs(base_url=base_url, headers=how.headers)
            with session.request(**kwargs, timeout=15, stream=True) as streamed:
                if streamed.status_code == 200:
                    assert streamed.headers["Content-Type"].startswith("text/event-stream")
                    return
                response = Response.from_requests(streamed, verify=True)
        else:
            response = case.call(base_url=base_url, session=session, headers=how.headers,
                                 timeout=15)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    # Several distinct failures come as a FailureGroup (a BaseExceptionGroup); each
    # names the request (as curl) and the answer.
    except (Exception, BaseExceptionGroup) as exc:
        return f"{operation.method.upper()} {operation.path} [{how.name}]: {exc}"
    return None


def _fuzz_all(schema: Any, system: System, known: Known) -> tuple[list[str], list[str]]:
    """Every operation in every pass: what ran, and every failure."""
    ran, failures = [], []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            for how in _passes(operation, known):
                ran.append(f"{operation.method.upper()} {operation.path} [{how.name}]")
                failure = _fuzz_operation(operation, how, system.base_for(operation.path),
                                          session)
                if failure:
                    failures.append(failure)
    return ran, failures


async def _known_records(system: System, bus: Bus) -> Known:
    # A notification channel (switched off: nothing is sent) for the channel routes.
    desk = {"name": "desk", "kind": "slack", "enabled": False,
            "secret": "https://hooks.example.com/services/T0/B0/schemathesis-channel"}
    remember_secret("schemathesis-channel")
    tenancy = await provision(bus, tenant_fields={"notifications": [desk]})
    strategy = tenancy.strategy
    # A callback endpoint, registered as the API does, told about the alert's trade:
    # its delivery (to a name that does not resolve here) is a known delivery id.
    callback = CallbackEndpoint(id=f"cb-{uuid.uuid4().hex[:12]}", tenant_id=tenancy.tenant.id,
                                url="https://hooks.example.com/tradehooks", secret=new_secret())
    remember_secret(callback.secret)
    await register_callback(bus, Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box()),
                            callback, SystemClock())
    async with aiohttp.ClientSession() as http:
        status, body = await post_json(
            http, system.webhook_url(strategy),
            tv_alert())
        assert status == 202, body
        # A file of the console, when it is built (else any name: 404).
        async with http.get(f"{system.operator_url}/") as page:
            built = re.search(r"/assets/([A-Za-z0-9_.-]+)", await page.text())
    # A key the fuzzer may revoke: never the admin key it authenticates with.
    spare, _ = await ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)).create("viewer")
    deliveries = DeliveryLog(await bus.kv(streams.BUCKET_CALLBACK_DELIVERIES))
    [delivery, *_] = await wait_until(lambda: deliveries.of_endpoint(callback.id),
                                      message="the callback's delivery")
    # "tenant" and "slug": the path of /webhook/{tenant}/{slug}.
    ids = {"tenant_id": tenancy.tenant.id, "tenant": tenancy.tenant.id,
           "account_id": tenancy.account.id,
           "strategy_id": strategy.id, "slug": strategy.slug,
           "signal_id": body["signal_id"], "key_id": spare.id, "callback_id": callback.id,
           "delivery_id": delivery.delivery_id, "channel_name": "desk",
           "name": built.group(1) if built else "absent.js"}
    return Known(ids, system.admin_key, strategy.secret)


@pytest.mark.timeout(240)
async def test_the_live_api_keeps_to_its_openapi_document(system: System, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{system.operator_url}/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    schema = schemathesis.openapi.from_dict(document)
    known = await _known_records(system, bus)
    # Requests are blocking: run them off the event loop (the services are processes).
    ran, failures = await asyncio.to_thread(_fuzz_all, schema, system, known)
    operations = {run.rsplit(" [", 1)[0] for run in ran}
    assert len(operations) == sum(len(item) for item in document["paths"].values())
    assert "PATCH /api/v1/strategies/{strategy_id} [known]" in ran
    assert not failures, "\n\n".join(failures)


async def test_what_schemathesis_found_is_answered_as_client_errors(system: System,
                                                                    bus: Bus) -> None:
    """The requests that once answered 5xx (or planted a secret), one by one."""
    tenancy = await provision(bus)
    api, auth = f"{system.operator_url}/api/v1", {"X-API-Key": system.admin_key}
    async with aiohttp.ClientSession(headers=auth) as http:
        async def status(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
            async with http.request(method, f"{api}{path}", **kwargs) as resp:
                return resp.status, await resp.json()

        # An id that cannot be a registry (NATS KV) key: 422 in a body, 404 in a path.
        assert (await status("POST", "/tenants", json={"name": "x", "id": "a.b"}))[0] == 422
        assert (await status("POST", "/accounts", json={
            "tenant_id": tenancy.tenant.id, "name": "x", "id": "a b"}))[0] == 422
        for path in ("/tenants/a.b", "/accounts/a%20b/config", "/strategies/%C3%B1"):
            assert (await status("GET", path))[0] == 404, path
        assert (await status("DELETE", "/apikeys/%C3%B1"))[0] == 404  # "ñ".isalnum()
        # A lone surrogate parses in the stdlib but cannot be stored: refused as JSON.
        code, body = await status("POST", "/tenants", data=b'{"name": "\\ud800"}',
                                  headers={"Content-Type": "application/json"})
        assert (code, body["error"]) == (400, "malformed_json")
        # An Alpaca account without its keys broke /status for every tenant.
        code, body = await status("POST", "/accounts", json={
            "tenant_id": tenancy.tenant.id, "name": "x", "broker": "alpaca"})
        assert (code, body.get("field")) == (422, "alpaca")
        assert (await status("GET", "/status"))[0] == 200
        # Creating a strategy may not plant a chosen old secret.
        code, body = await status("POST", "/strategies", json={
            "tenant_id": tenancy.tenant.id, "account_id": tenancy.account.id, "name": "p",
            "previous_secret": "whsec_chosen", "previous_valid_until": "2999-01-01T00:00:00Z"})
        assert (code, body.get("field")) == (422, "previous_secret")
