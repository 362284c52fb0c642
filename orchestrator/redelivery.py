"""Counting deliveries of a message that keeps coming back, to stop a poison message."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.db.models import F

from orchestrator.models import DeadLetter, DeliveryCount


def delivery_count_exceeded(*, message_id: str, task_name: str, body: Any, limit: int) -> bool:
    """Count one more delivery of this Celery message; past `limit`, dead-letter it and say so.

    Only redelivered messages are counted, so the common path costs nothing.
    """
    with transaction.atomic():
        # The first redelivery is the message's second delivery.
        row, created = DeliveryCount.objects.get_or_create(message_id=message_id, defaults={"count": 2})
        if not created:
            DeliveryCount.objects.filter(pk=row.pk).update(count=F("count") + 1)
            row.refresh_from_db()
        if row.count <= limit:
            return False
        DeadLetter.objects.create(
            task_name=task_name,
            body=json.dumps(body, default=str),
            reason=f"delivered {row.count} times without completing (poison message?)",
            process_id=str(body.get("process_id", "")) if isinstance(body, dict) else "",
        )
    return True
