"""The dispatcher: tells tenants' callback endpoints what happened.

Consumes the lifecycle events endpoints may subscribe to (``webhook.*``,
``order.placed`` and the legs, ``account.*``, ``security.*``) and publishes one
``callback.requested`` per endpoint that wants each (:mod:`.fanout`); consumes those
requests and delivers them, signed (Standard Webhooks), retried with backoff and
jitter for a day, then parked (:mod:`.worker`, :mod:`.machine`), publishing
``callback.attempted`` / ``callback.parked`` and the endpoints' health
(``callback.endpoint_*``, :mod:`.health`). State it owns: the delivery records
(KV ``th_callback_deliveries``) and the endpoints' marks (KV ``th_callback_health``).
It connects only where the SSRF rules allow (:mod:`libs.callbacks.outbound`).
"""
