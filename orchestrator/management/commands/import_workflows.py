"""Create or update workflow definitions from a JSON file; a file with any problem changes nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.workflow_io import ImportRefused, workflows_import


class Command(BaseCommand):
    help = "Import workflow definitions from a JSON file (as written by export_workflows); '-' reads stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            done = workflows_import(text)
        except ImportRefused as refused:
            raise CommandError(
                "nothing was imported:\n" + "\n".join(f"  - {problem}" for problem in refused.problems)
            ) from None
        for line in done:
            self.stdout.write(line)
