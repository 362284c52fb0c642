"""`make bench`: the engine against a bare Celery chain on the same machine (docs/performance.md)."""
