"""redkeep server: the Redis-compatible data node."""
