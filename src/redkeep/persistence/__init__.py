"""Persistence in Redis's own formats: RDB snapshots (rdb.py), later AOF."""
