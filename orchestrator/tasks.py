"""Celery entry points of the orchestrator. Thin: each calls one service function."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from orchestrator.probes import probe_answer


@shared_task(name="ops.probe", bind=True)
def probe(self: Any, probe_id: str) -> None:
    probe_answer(probe_id=probe_id, worker=self.request.hostname or "")
