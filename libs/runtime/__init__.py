"""Runtime (a library, not a service): the plumbing every service shares — settings,
the NATS connection and topology, the consumer loop and handler tables, timers,
metrics, logs and the clock.
"""
