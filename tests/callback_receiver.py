"""A local HTTPS receiver for callback tests.

A test certificate authority (made once per process with ``cryptography``; the
dispatcher trusts it through ``TRADEHOOKS_CALLBACK_CA_FILE``), a server certificate
for ``127.0.0.1`` and ``localhost`` signed by it, and a server that records every
request, checks its Standard Webhooks signature with its own code (not the
platform's) and answers as the test says per path: ``ok`` (200), ``fail`` (500),
``slow`` (answers after the dispatcher's timeout), ``gone`` (410), ``redirect``
(302 to ``/target`` on itself).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import shutil
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ports import free_port

# Longer than the dispatcher's callback timeout in the test systems (harness.py).
SLOW_S = 3.0


@dataclass(frozen=True)
class CallbackCA:
    """Where the test CA's certificate and the receiver's certificate and key are."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@functools.cache
def callback_ca() -> CallbackCA:
    """The test CA and a server certificate it signed (made once per process)."""
    folder = Path(tempfile.mkdtemp(prefix="tradehooks-test-ca-"))
    atexit.register(shutil.rmtree, folder, True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("tradehooks test CA"))
          .issuer_name(_name("tradehooks test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, key_cert_sign=True, crl_sign=True,
              content_commitment=False, key_encipherment=False, data_encipherment=False,
              key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = CallbackCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return paths


def verify(secrets: list[str], headers: dict[str, str], body: bytes,
           tolerance_s: int = 300) -> bool:
    """The Standard Webhooks check a receiver makes: any ``v1`` signature matches one
    of ``secrets`` over ``{id}.{timestamp}.{body}``, and the timestamp is recent."""
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not webhook_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance_s:
        return False
    content = f"{webhook_id}.{stamp}.".encode() + body
    presented = [s.partition(",")[2] for s in headers.get("webhook-signature", "").split()
                 if s.startswith("v1,")]
    for secret in secrets:
        raw = secret.removeprefix("whsec_")
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, p) for p in presented):
            return True
    return False


@dataclass
class Received:
    """One request the receiver got, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool
    status: int
    peer: str = ""  # the client's address and port: one per connection


@dataclass
class Receiver:
    """The HTTPS server; ``modes`` (path → mode) say how it answers, ``secrets`` which
    signatures it accepts."""

    secrets: list[str] = field(default_factory=list)
    modes: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        mode = self.modes.get(request.path, "ok")
        status = {"ok": 200, "fail": 500, "slow": 200, "gone": 410, "redirect": 302}[mode]
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(Received(request.path, headers, body,
                                      verify(self.secrets, headers, body), status,
                                      f"{peer[0]}:{peer[1]}" if peer else ""))
        if mode == "slow":
            await asyncio.sleep(SLOW_S)  # a receiver slower than the dispatcher waits
        if mode == "redirect":
            raise web.HTTPFound(f"{self.base_url}/target")
        return web.Response(status=status, text="x" * 100_000 if mode == "fail" else "ok")

    async def start(self) -> Receiver:
        """Listen on a free loopback port with the test CA's server certificate."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        paths = callback_ca()
        context.load_cert_chain(paths.cert_file, paths.key_file)
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context).start()
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def on(self, path: str) -> list[Received]:
        """The requests to ``path``."""
        return [r for r in self.requests if r.path == path]

    def delivered_ids(self, path: str) -> dict[str, int]:
        """webhook-id → how many times a correctly signed request with it was answered
        2xx at ``path``."""
        counts: dict[str, int] = {}
        for r in self.on(path):
            if r.signed and 200 <= r.status < 300:
                counts[r.headers["webhook-id"]] = counts.get(r.headers["webhook-id"], 0) + 1
        return counts
