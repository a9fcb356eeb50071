"""Validator (a deployable service): turns a received alert into a signal.

Consumes: ``webhook.received`` (consumer ``validator``).
Publishes: ``webhook.validated``, or ``webhook.failed`` (stage ``validate``).
Owns: nothing (it reads the registry).
"""
