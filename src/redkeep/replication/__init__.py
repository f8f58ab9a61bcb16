"""Replication: the backlog, the master side, the replica side."""
