"""Executor (a deployable service): the one owner of broker orders.

Consumes: ``order.requested`` and ``order.cancel_requested`` (consumer ``executor``),
``market.price`` ticks (consumer ``executor_prices``).
Publishes: ``order.placed``, ``order.partially_filled``, ``webhook.trade_executed``,
``webhook.failed``,
``order.leg_filled`` / ``order.leg_canceled`` / ``order.leg_resized``.
Owns: the open orders it must end later (KV ``th_open_orders``); syncs resting
orders with the broker on a timer.
"""
