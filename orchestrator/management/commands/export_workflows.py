"""Write workflow definitions as JSON (to keep them in version control)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.models import WorkflowDefinition
from orchestrator.workflow_io import workflows_export


class Command(BaseCommand):
    help = "Export workflow definitions as JSON: all of them, or those named."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="workflow names (default: all)")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args: Any, names: list[str], output: str | None, **options: Any) -> None:
        definitions = WorkflowDefinition.objects.all()
        if names:
            definitions = definitions.filter(name__in=names)
            missing = set(names) - set(definitions.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no workflow named {', '.join(sorted(missing))}")
        text = workflows_export(list(definitions))
        if output:
            Path(output).write_text(text)
            self.stderr.write(f"Wrote {definitions.count()} definition(s) to {output}")
        else:
            self.stdout.write(text, ending="")
