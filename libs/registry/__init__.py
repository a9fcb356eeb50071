"""Registry (a library, not a service): tenants, accounts, strategies and API keys in
NATS KV (``th_registry``), their change events, sealed secrets and the cached,
watched copy every service reads.
"""
