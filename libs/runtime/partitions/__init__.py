"""Partitions of the pipeline and who owns them (DESIGN rule 10: one writer per account).

The pure decisions live in :mod:`.assignment` (which partition an account is in, which
instance should own a partition) and :mod:`.leases` (claiming, renewing, releasing a
partition's lease; the epoch that fences account-state writes). :mod:`.ownership` does
the I/O on NATS KV, :mod:`.consumers` runs one durable consumer per owned partition.
"""
