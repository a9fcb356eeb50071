"""Secrets at rest: strategy secrets and broker keys are sealed with the master key.

The master key is ``TRADEHOOKS_MASTER_KEY`` (a Fernet key), else the file
``<data dir>/master.key`` that a fresh install creates with mode 0600. Sealed
values look like ``enc:<token>``; only processes holding the key can open them.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from libs.runtime.config import Settings

PREFIX = "enc:"
KEY_FILE = "master.key"


class VaultError(Exception):
    """The master key is missing, or a sealed value does not open with it."""


class SecretBox:
    """Seals and opens secret strings with one master key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise VaultError("the master key is not a valid Fernet key "
                             "(32 url-safe base64 bytes)") from exc

    def seal(self, plain: str) -> str:
        """Encrypt ``plain`` (empty stays empty)."""
        return PREFIX + self._fernet.encrypt(plain.encode()).decode() if plain else ""

    def open(self, sealed: str) -> str:
        """Decrypt a sealed value; an unsealed one (written before sealing) is returned."""
        if not sealed.startswith(PREFIX):
            return sealed
        try:
            return self._fernet.decrypt(sealed.removeprefix(PREFIX).encode()).decode()
        except InvalidToken as exc:
            raise VaultError("a stored secret does not open with this master key") from exc


def new_master_key() -> bytes:
    """A fresh random master key."""
    return Fernet.generate_key()


def load_box(settings: Settings, create: bool = False) -> SecretBox:
    """The box for ``settings``: env key, else the data dir's key file (created with
    0600 when ``create`` and missing); VaultError when there is none."""
    from_env = os.environ.get("TRADEHOOKS_MASTER_KEY", "").strip()
    if from_env:
        return SecretBox(from_env.encode())
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        return SecretBox(path.read_bytes().strip())
    if not create:
        raise VaultError(f"no master key: set TRADEHOOKS_MASTER_KEY or create {path} "
                         "(tradehooks up does on first start)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_master_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return SecretBox(key)
