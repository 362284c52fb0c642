"""Commands run in batches: the ones waiting behind the command Celery delivered, in one
transaction, their replies published after the commit (orchestrator.batches takes them).

Under a backlog this spares each command Celery's delivery, a commit and a broker connection of
its own. A batch takes the next command only while it is young (`BATCH_SECONDS`), so a slow
provider does not hold back the replies already decided.

Nothing changes in what a service guarantees: each command still acts once under its idempotency
key (a redelivered one finds its record), and a command is acknowledged only once its reply is
out. A batch that fails in any way is given back to the queue, and the command Celery delivered
is run alone, as it would have been without batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from booking.services.declaration import Handler, Result
from booking.services.runner import command_run, reply_message
from orchestrator import publishing
from orchestrator.batches import Pulled, acknowledge, give_back, more_messages
from orchestrator.messages import CommandMessage

logger = logging.getLogger(__name__)

# A batch takes more commands only while it is younger than this: the replies it has decided wait
# for its commit.
BATCH_SECONDS = 0.1


def commands_take(
    task_name: str, body: Any, *, queue: str | None, handlers: Mapping[str, tuple[str, Handler]]
) -> None:
    """Run the command Celery delivered from `queue`, with those waiting behind it there.

    `handlers`: each command task's service and handler, by task name."""
    if not queue or settings.SERVICE_BATCH_SIZE <= 1:
        _run_alone(task_name, body, handlers)  # called directly (tests, a shell), or batches off
        return
    pulled: list[Pulled] = []
    replies: list[tuple[CommandMessage, Result]] = []
    try:
        with transaction.atomic():
            began = time.monotonic()
            name, item = task_name, body
            while True:
                service, handler = handlers[name]
                command_run(
                    item,
                    service=service,
                    task_name=name,
                    handler=handler,
                    reply=lambda command, result: replies.append((command, result)),
                )
                # Take the next only while the batch is young: a slow provider (or injected
                # latency) must not hold the replies already decided for long.
                if len(pulled) + 1 >= settings.SERVICE_BATCH_SIZE or time.monotonic() - began > BATCH_SECONDS:
                    break
                more = more_messages(queue, tasks=handlers.keys(), limit=1)
                if not more:
                    break
                pulled += more
                name, item = more[0].task, more[0].body
    except Exception:
        if not pulled:
            raise  # the command alone failed, as it would have without batches
        logger.warning("a batch of %d commands failed; the first runs alone", len(pulled) + 1, exc_info=True)
        give_back(pulled)
        _run_alone(task_name, body, handlers)
        return
    except BaseException:  # the worker is stopping: the broker delivers them again
        give_back(pulled)
        raise
    try:
        _replies_send(replies)
    except BaseException:
        # The records are committed: the commands, delivered again, find them and reply again.
        give_back(pulled)
        raise
    acknowledge(pulled)


def _run_alone(task_name: str, body: Any, handlers: Mapping[str, tuple[str, Handler]]) -> None:
    service, handler = handlers[task_name]
    command_run(body, service=service, task_name=task_name, handler=handler)


def _replies_send(replies: list[tuple[CommandMessage, Result]]) -> None:
    publishing.tasks_publish([reply_message(command, result) for command, result in replies])
