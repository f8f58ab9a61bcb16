"""Job functions for the python-rq integration test (importable by the rq worker)."""


def add(a: int, b: int) -> int:
    return a + b
