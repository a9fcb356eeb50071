"""Signed checkpoints of the chain head (Ed25519), with a key the store never holds.

A checkpoint says "at ``created_at`` the chain of ``store`` reached ``position`` with
``hash``", signed by the operator's key. Handed to an outside party (or kept away
from the database), it later proves that nothing at or before ``position`` changed:
``tradehooks verify --checkpoint FILE --public-key KEY`` recomputes the chain and
compares. The signed message is the checkpoint's JSON without ``signature``, keys
sorted, no spaces (:func:`signed_bytes`).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

FORMAT = "tradehooks-checkpoint/1"


class Checkpoint(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A signed chain head (all bytes as lowercase hex)."""

    format: str = FORMAT
    store: str  # where it was taken (no password)
    position: int
    hash: str
    events: int  # rows in the chain up to ``position``
    created_at: str  # ISO 8601, UTC
    algorithm: str = "ed25519"
    public_key: str
    signature: str = ""


def signed_bytes(checkpoint: Checkpoint) -> bytes:
    """The canonical bytes a checkpoint's signature covers."""
    fields = msgspec.to_builtins(checkpoint)
    fields.pop("signature", None)
    return msgspec.json.encode(fields, order="sorted")


def new_key(path: Path) -> str:
    """Write a new private key (PEM, PKCS#8, readable only by its owner) to ``path``
    and its public key (hex) beside it as ``path.pub``; returns the public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = public_hex(key)
    Path(f"{path}.pub").write_text(public + "\n")
    return public


def load_key(path: Path) -> Ed25519PrivateKey:
    """The private key at ``path`` (PEM)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_hex(key: Ed25519PrivateKey) -> str:
    """The raw public key of ``key``, hex."""
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw).hex()


def sign(key: Ed25519PrivateKey, *, store: str, position: int, head_hash: bytes,
         events: int, now: datetime) -> Checkpoint:
    """A checkpoint of the head ``(position, head_hash)``, signed with ``key``."""
    checkpoint = Checkpoint(store=store, position=position, hash=head_hash.hex(),
                            events=events, created_at=now.isoformat(),
                            public_key=public_hex(key))
    signature = key.sign(signed_bytes(checkpoint)).hex()
    return msgspec.structs.replace(checkpoint, signature=signature)


def check_signature(checkpoint: Checkpoint, public_key: str | None) -> str:
    """'' when the signature holds for ``public_key`` (hex; the checkpoint's own key
    when None, which proves only integrity, not who signed), else why not."""
    if checkpoint.format != FORMAT or checkpoint.algorithm != "ed25519":
        return f"unknown checkpoint format {checkpoint.format!r}/{checkpoint.algorithm!r}"
    key_hex = public_key or checkpoint.public_key
    if public_key and public_key != checkpoint.public_key:
        return "the checkpoint was signed by another key than the one given"
    try:
        verifier = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
        verifier.verify(bytes.fromhex(checkpoint.signature), signed_bytes(checkpoint))
    except (ValueError, InvalidSignature):
        return "the checkpoint's signature does not hold: it was altered or not signed"
    return ""


_decoder = msgspec.json.Decoder(Checkpoint)
_encoder = msgspec.json.Encoder()


def encode(checkpoint: Checkpoint) -> bytes:
    """The checkpoint as one line of JSON."""
    return _encoder.encode(checkpoint) + b"\n"


def decode(data: bytes) -> Checkpoint:
    """Inverse of :func:`encode` (raises msgspec.DecodeError on anything else)."""
    return _decoder.decode(data)


PREFIX = "checkpoint-"


def checkpoint_path(directory: Path, position: int) -> Path:
    """The file of the checkpoint at ``position`` (names sort by position)."""
    return directory / f"{PREFIX}{position:012d}.json"


def newest(directory: Path, store: str, public_key: str | None = None) -> Checkpoint | None:
    """The checkpoint of ``store`` with the highest position in ``directory`` (signed
    by ``public_key`` when given); files that do not parse are skipped."""
    best: Checkpoint | None = None
    for path in sorted(directory.glob(f"{PREFIX}*.json"), reverse=True):
        try:
            found = decode(path.read_bytes())
        except (OSError, msgspec.DecodeError):
            continue
        if found.store == store and (public_key is None or found.public_key == public_key) \
                and (best is None or found.position > best.position):
            best = found
    return best
