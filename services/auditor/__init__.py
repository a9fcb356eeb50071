"""Auditor (a deployable service): the system's memory.

Consumes: every event on the ``TRADEHOOKS`` stream (consumer ``auditor``).
Publishes: nothing.
Owns: the event store (SQLite or PostgreSQL) — each event appended once, in stream
order, in batches of one transaction — and the read models kept beside it (account
projection, signal history), advanced after each batch.
"""
