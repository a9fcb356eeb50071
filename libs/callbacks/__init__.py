"""Callbacks to tenants' URLs: where they may go (SSRF rules), the delivery records
and redelivery requests that the operator API, the CLI and the dispatcher share."""
