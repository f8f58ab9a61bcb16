"""redkeep: a high-availability key-value system (Redis-compatible) in Python."""

__version__ = "0.1.0"
REDIS_VERSION = "7.0.15"  # the Redis version whose behaviour redkeep reproduces
