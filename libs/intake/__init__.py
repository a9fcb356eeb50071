"""Taking an alert into the pipeline: its de-duplication key, dry runs, rate limits,
credentials stripped from the payload and the durable ``webhook.received`` publish.

Shared by the webhook edge (``services/ingress``) and the operator's test tool
(``services/api``), so a test alert enters the pipeline exactly as a webhook does.
"""
