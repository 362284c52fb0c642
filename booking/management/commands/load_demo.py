"""Load the demo workflows and the services' fault settings (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from booking.demo import demo_workflows_load
from booking.faults import demo_faults_load


class Command(BaseCommand):
    help = "Create the trip-booking workflows and default fault settings if they are missing."

    def handle(self, *args: Any, **options: Any) -> None:
        created = demo_workflows_load()
        demo_faults_load()
        if created:
            self.stdout.write(f"Created workflows: {', '.join(created)}")
        else:
            self.stdout.write("Demo workflows already present.")
