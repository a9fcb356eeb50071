"""Steps the browser tests share."""

from __future__ import annotations

from typing import Any


def sign_in(page: Any, url: str, key: str) -> None:
    """Open the console and sign in with ``key``."""
    page.goto(url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("who").wait_for()
