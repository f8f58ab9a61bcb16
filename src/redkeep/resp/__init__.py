"""Sans-IO RESP2/RESP3: a request parser (hiredis fast path, pure fallback) and an encoder."""
