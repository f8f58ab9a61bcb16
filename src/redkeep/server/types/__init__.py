"""Value types of the keyspace (lists, hashes, sets, sorted sets).

Each is a plain Python container subclass whose class *is* the Redis type (see
keyspace.TYPE_NAMES), carrying the little extra state Redis shows (its encoding).
`register_all()` declares them to the keyspace; it is called once by the table builder.
"""
