"""Ingress (a deployable service): the public webhook edge, and nothing else.

Serves: the webhook routes and health (what the internet may reach).
Consumes: nothing from the stream (it reads the registry from KV).
Publishes: ``webhook.received`` (with the alert's de-duplication key as message id),
``webhook.failed`` for refusals after authentication, ``security.auth_failures``.
Owns: the webhook rate-limit windows (KV ``th_rate_limits``) and the accepted-alert
records (KV ``th_accepted_alerts``). Reads no event store.
"""
