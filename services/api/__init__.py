"""The operator service (a deployable service, ``tradehooks run api``).

Serves, on its own listener (``TRADEHOOKS_OPERATOR_HOST``/``PORT``, loopback by
default, never the public webhook port): the admin API for tenants, accounts,
strategies and keys, signal and account queries (``as_of`` too), prices, commands,
status, the live stream, exports, ``/metrics``, ``/openapi.json`` and the web console.
Consumes: reads the stream for the live view only.
Publishes: registry change events, ``market.price.*``, commands, and test alerts as
``webhook.received`` (through ``libs.intake``, exactly as a webhook).
Owns: no state of its own; reads the event store and the read models.
"""
