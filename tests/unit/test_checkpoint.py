"""Signed checkpoints: the signature covers every field, and only the signer's key holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from projections import checkpoint as cp

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def signed(key: cp.Ed25519PrivateKey) -> cp.Checkpoint:
    return cp.sign(key, store="sqlite:var/events.sqlite", position=42,
                   head_hash=bytes(range(32)), events=40, now=NOW)


def test_a_checkpoint_round_trips_and_its_signature_holds() -> None:
    key = cp.Ed25519PrivateKey.generate()
    checkpoint = cp.decode(cp.encode(signed(key)))

    assert checkpoint.position == 42
    assert checkpoint.hash == bytes(range(32)).hex()
    assert checkpoint.created_at == "2026-12-02T09:30:00+00:00"
    assert cp.check_signature(checkpoint, cp.public_hex(key)) == ""
    assert cp.check_signature(checkpoint, None) == ""


@pytest.mark.parametrize(("field", "value"), [
    ("position", 43), ("hash", "00" * 32), ("events", 41), ("store", "elsewhere"),
    ("created_at", "2026-12-03T09:30:00+00:00"),
])
def test_changing_any_field_breaks_the_signature(field: str, value: object) -> None:
    key = cp.Ed25519PrivateKey.generate()
    forged = msgspec.structs.replace(signed(key), **{field: value})

    assert "does not hold" in cp.check_signature(forged, cp.public_hex(key))


def test_a_checkpoint_re_signed_with_another_key_is_refused_for_the_real_key() -> None:
    real, forger = cp.Ed25519PrivateKey.generate(), cp.Ed25519PrivateKey.generate()
    forged = signed(forger)

    assert cp.check_signature(forged, None) == ""  # consistent with itself...
    assert "another key" in cp.check_signature(forged, cp.public_hex(real))  # ...not the real


def test_new_key_is_private_to_its_owner_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    public = cp.new_key(path)

    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "checkpoint.key.pub").read_text().strip() == public
    assert cp.public_hex(cp.load_key(path)) == public
    with pytest.raises(FileExistsError):
        cp.new_key(path)


def test_the_signed_bytes_are_sorted_compact_json_without_the_signature() -> None:
    key = cp.Ed25519PrivateKey.generate()
    data = cp.signed_bytes(signed(key))

    assert data.startswith(b'{"algorithm":"ed25519","created_at":"2026-12-02T09:30:00+00:00",')
    assert b"signature" not in data
