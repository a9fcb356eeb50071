"""Webhook authentication: one entry point, :func:`authenticate_webhook`.

- ``signatures``: body/query tokens and Standard Webhooks HMAC signatures.
- ``bearer`` and ``jwt_rules``: bots' header credentials and JWTs, and their times.
- ``routing``: which strategy a credential is for, among those its URL can mean.
- ``targets``: what a webhook URL names (universal, tenant/slug, legacy slug).
- ``failures``: failed authentications counted per strategy and minute.
"""

from services.ingress.auth.webhook import authenticate_webhook

__all__ = ["authenticate_webhook"]
