"""Sentinel: monitoring, agreement and failover of Redis replication groups."""
