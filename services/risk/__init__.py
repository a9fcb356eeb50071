"""Risk (a deployable service): sizes validated signals and applies the limits.

Consumes: ``webhook.validated`` (consumer ``risk``); ``webhook.trade_executed`` and
``webhook.failed`` to release reservations, ``order.partially_filled`` to keep only
the unfilled rest of a resting order reserved (consumer ``risk_release``).
Publishes: ``order.requested``, or ``webhook.failed`` (stage ``risk``).
Owns: one ledger per account (KV ``th_risk_ledgers``: today's counters and orders
decided but not yet filled) and each signal's answer (KV ``th_risk_decisions``).
"""
