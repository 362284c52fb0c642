"""The engine in the Django admin: workflow definitions (`definitions`), and processes with their
history, outbox and dead letters, read-only (`history`)."""

from orchestrator.admin import definitions, history

__all__ = ["definitions", "history"]
