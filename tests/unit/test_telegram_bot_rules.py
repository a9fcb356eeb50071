"""The Telegram admin bot's decisions (libs/notify/bot.py)."""

from __future__ import annotations

import pytest

from libs.notify.bot import Binding, Command, parse_bindings, parse_command, refusal


def test_bindings_name_chat_tenant_and_role() -> None:
    bindings = parse_bindings("-1001=acme:admin, 42=acme:viewer,7=beta")
    assert bindings["-1001"] == Binding("-1001", "acme", "admin")
    assert bindings["42"].role == "viewer"
    assert bindings["7"].role == "admin"
    assert parse_bindings("") == {}
    with pytest.raises(ValueError, match="CHAT_ID=TENANT:ROLE"):
        parse_bindings("abc=acme:admin")
    with pytest.raises(ValueError, match="CHAT_ID"):
        parse_bindings("1=acme:owner")


def test_commands_with_and_without_the_bot_name() -> None:
    assert parse_command("/add_strategy DynamicGoldBreakout") == Command(
        "add_strategy", ("DynamicGoldBreakout",))
    assert parse_command("/pause@TradehooksBot acc-1") == Command("pause", ("acc-1",))
    assert parse_command("/status") == Command("status", ())
    assert parse_command("hello") is None


def test_only_bound_chats_and_only_admins_change_things() -> None:
    admin, viewer = Binding("1", "acme", "admin"), Binding("2", "acme", "viewer")
    pause = Command("pause", ("acc",))
    assert refusal(None, Command("status", ())) is not None
    assert refusal(admin, pause) is None
    assert "admin role" in (refusal(viewer, pause) or "")
    assert refusal(viewer, Command("strategies", ())) is None
    assert "Unknown command" in (refusal(admin, Command("drop_tables", ())) or "")
