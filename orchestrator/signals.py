"""Signals the engine sends after a transition commits; the dashboard listens to them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with process_id (str) and status (str) after every committed change to a process.
process_changed = Signal()
