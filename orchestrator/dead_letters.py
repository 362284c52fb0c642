"""Messages nobody can take, kept with the reason for an operator to look at."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction

from orchestrator import counters
from orchestrator.models import DeadLetter

logger = logging.getLogger(__name__)


def dead_letter_keep(
    task_name: str, body: Any, reason: str, *, process_id: str = "", queue: str = "", raw: bool = False
) -> DeadLetter:
    """Keep a message nobody can take, with the reason. `raw`: the body is the text as it came
    (not a decoded message to write as JSON)."""
    if raw:
        text = str(body)
    else:
        try:
            text = json.dumps(body, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(body)
    letter = DeadLetter.objects.create(
        task_name=task_name, body=text, reason=reason, process_id=process_id, queue=queue
    )
    logger.warning("dead letter from %s: %s", task_name, reason)
    # Counted once kept: a batch rolled back and handled again one reply at a time counts once.
    transaction.on_commit(counters.dead_letter_kept, robust=True)
    return letter
