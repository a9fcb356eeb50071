"""The operator service: the admin API, queries, commands, status, OpenAPI and the web console.

Served on its own listener (``TRADEHOOKS_OPERATOR_HOST``/``PORT``), never on the public
webhook port.
"""
