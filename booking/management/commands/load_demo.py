"""Load the demo workflows and the services' fault settings (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from booking.demo import demo_workflows_load
from booking.models import ServiceFaults


class Command(BaseCommand):
    help = "Create the trip-booking workflows and default fault settings if they are missing."

    def handle(self, *args: Any, **options: Any) -> None:
        created = demo_workflows_load()
        for service in ServiceFaults.Service.values:
            # A few failures by default, so a fresh demo shows retries and compensations.
            ServiceFaults.objects.get_or_create(
                service=service, defaults={"technical_rate": 0.05, "business_rate": 0.02}
            )
        if created:
            self.stdout.write(f"Created workflows: {', '.join(created)}")
        else:
            self.stdout.write("Demo workflows already present.")
