"""Libraries the services share: none of these is deployed on its own.

- ``runtime``: the bus, consumers, handler tables, config, logs, metrics, timers.
- ``registry``: tenants, accounts, strategies and their keys in NATS KV, and the
  watched cache every service reads them through.
- ``brokers``: the broker protocol and its adapters (paper, Alpaca).
- ``whatif``: replays recorded signals under other settings for the auditor's tools.
"""
