"""SL/TP monitor (a deployable service): protective legs, the breaker, cleanup.

Consumes: ``webhook.trade_executed`` (consumer ``sltp_monitor``); operator commands
over request/reply (``tradehooks.cmd.cleanup`` / ``tradehooks.cmd.status``).
Publishes: ``order.requested`` for stop-loss / take-profit legs (and the liquidation
of a tripped account),
``order.cancel_requested``, ``account.breaker_tripped``.
Owns: the breaker's trip state (KV ``th_breakers``); a trip pauses the account in the
registry.
"""
