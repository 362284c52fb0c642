"""The service workers' supervisord programs, from the queues the declared services consume.

    python manage.py worker_layout compact      # one program consuming every service queue
    python manage.py worker_layout per-queue    # one program per service queue
    python manage.py worker_layout queues       # the service queues, one a line (systemd, scripts)

`make run` writes the layout it runs to $RUN_DIR/workers.conf, which deploy/supervisord.conf
includes: a service declared today gets its worker at the next start, with no file to edit.
Each program runs as many processes as its variable says: SERVICES_WORKERS (compact), or one per
queue in the per-queue layout (PARCELS_WORKERS for a parcels queue, ...); 1 by default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.commands import command_queues

LAYOUTS = ("compact", "per-queue", "queues")

PROGRAM = """[program:{name}]
command=celery --app config worker --pool solo --queues {queues} \
--hostname {name}-%(process_num)d@%%h --without-mingle --without-gossip
process_name=%(program_name)s-%(process_num)d
numprocs={processes}
directory={directory}
autorestart=true
startsecs=3
startretries=30
stopsignal=TERM
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
"""


def processes_variable(program: str) -> str:
    """The environment variable that scales a program: "travel-insurance" -> TRAVEL_INSURANCE_WORKERS."""
    return re.sub(r"[^A-Z0-9]", "_", program.upper()) + "_WORKERS"


def processes_for(program: str, environ: dict[str, str]) -> int:
    raw = environ.get(processes_variable(program), "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise CommandError(f"{processes_variable(program)} must be a whole number of processes, 1 or more")
    return int(raw)


def layout_text(layout: str, *, queues: list[str], environ: dict[str, str], directory: Path) -> str:
    """The supervisord programs of a layout."""
    if layout == "queues":
        return "".join(f"{queue}\n" for queue in queues)
    if layout == "compact":
        groups = [("services", queues)]
        head = "; The compact layout: one program consumes every service queue (scale: SERVICES_WORKERS).\n"
    else:
        groups = [(queue, [queue]) for queue in queues]
        head = "; The per-queue layout: one program per service queue (scale: <QUEUE>_WORKERS).\n"
    head += "; Written by `manage.py worker_layout` from the declared services: do not edit.\n\n"
    programs = [
        PROGRAM.format(
            name=name,
            queues=",".join(group),
            processes=processes_for(name, environ),
            directory=directory,
        )
        for name, group in groups
    ]
    return head + "\n".join(programs)


class Command(BaseCommand):
    help = "Print (or write) the service workers' supervisord programs, from the declared services."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("layout", choices=LAYOUTS)
        parser.add_argument("--output", type=Path, help="write it to this file instead of printing it")

    def handle(self, *args: Any, **options: Any) -> None:
        queues = command_queues()
        if not queues:
            raise CommandError("no service is declared: there is no service queue to consume")
        directory = Path(__file__).resolve().parents[3]
        text = layout_text(options["layout"], queues=queues, environ=dict(os.environ), directory=directory)
        if options["output"] is None:
            self.stdout.write(text, ending="")
            return
        output: Path = options["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".new")
        partial.write_text(text)
        partial.replace(output)  # supervisord never reads half a file
