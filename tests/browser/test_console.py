"""The web console in a real browser against a running ``tradehooks up``."""

from __future__ import annotations

from typing import Any

import pytest
from browser_helpers import sign_in

pytestmark = pytest.mark.browser


def test_sign_in_with_the_admin_key_and_see_the_demo_strategy(up: dict[str, Any],
                                                              page: Any) -> None:
    page.goto(up["console_url"])
    page.get_by_label("API key").fill("thk_wrong")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="admin API key").wait_for()

    sign_in(page, up["console_url"], up["admin_key"])
    assert page.get_by_test_id("who").inner_text().startswith("admin")
    page.get_by_test_id("strategies").get_by_text("Demo", exact=False).first.wait_for()
