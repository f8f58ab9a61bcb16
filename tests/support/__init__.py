"""Shared test harness: server processes, a raw RESP client, differential comparison."""
