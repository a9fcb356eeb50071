"""Notifier (a deployable service): tells people on their tenants' channels.

Consumes: ``webhook.trade_executed``, ``webhook.failed``, ``account.breaker_tripped``
and ``security.auth_failures`` (consumer ``notifier``).
Publishes: nothing.
Records: notices and cut batches in KV ``th_notify_pending`` until sent.
Sends: Telegram (Bot API ``sendMessage``), Discord and Slack (incoming webhooks) and
e-mail (SMTP), per tenant channel and topic, a burst collapsed into one message and
at most one message per channel and topic per interval (:mod:`libs.notify`).
"""
