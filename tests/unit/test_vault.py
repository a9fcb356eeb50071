"""Secrets at rest: sealing, opening, and where the master key comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.registry.vault import SecretBox, VaultError, load_box, new_master_key
from libs.runtime.config import Settings


def test_sealed_secrets_open_only_with_their_key() -> None:
    box = SecretBox(new_master_key())
    sealed = box.seal("whsec_topsecret")
    assert sealed.startswith("enc:")
    assert "topsecret" not in sealed
    assert box.open(sealed) == "whsec_topsecret"
    with pytest.raises(VaultError):
        SecretBox(new_master_key()).open(sealed)


def test_values_stored_before_sealing_still_open_and_empty_stays_empty() -> None:
    box = SecretBox(new_master_key())
    assert box.open("whsec_plain") == "whsec_plain"
    assert box.seal("") == ""


def test_a_malformed_key_is_refused_clearly() -> None:
    with pytest.raises(VaultError, match="Fernet"):
        SecretBox(b"short")


def test_fresh_install_creates_a_private_key_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEHOOKS_MASTER_KEY", raising=False)
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(VaultError, match="no master key"):
        load_box(settings)
    box = load_box(settings, create=True)
    key_file = tmp_path / "master.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    again = load_box(settings)  # the same key is read back
    assert again.open(box.seal("x")) == "x"


def test_the_environment_key_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_master_key()
    monkeypatch.setenv("TRADEHOOKS_MASTER_KEY", key.decode())
    box = load_box(Settings(data_dir=tmp_path), create=True)
    assert not (tmp_path / "master.key").exists()
    assert SecretBox(key).open(box.seal("y")) == "y"

