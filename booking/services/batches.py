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
from booking.services.runner import Delivered, command_run, commands_run, replies_publish
from orchestrator.batches import acknowledge, give_back, more_messages
from orchestrator.messages import CommandMessage

logger = logging.getLogger(__name__)

# A batch takes more commands only while it is younger than this: the replies it has decided wait
# for its commit.
BATCH_SECONDS = 0.1


def commands_take(
    task_name: str,
    body: Any,
    *,
    queue: str | None,
    handlers: Mapping[str, tuple[str, Handler]],
    alone: bool = False,
) -> None:
    """Run the command Celery delivered from `queue`, with those waiting behind it there.

    1. Take the commands waiting now, up to the batch size, in one go (orchestrator.batches).
    2. Run them in one transaction, in order, while the batch is young (`BATCH_SECONDS`): a slow
       provider must not hold the replies already decided; those not started go back to the queue.
    3. After the commit, publish the replies together, then acknowledge what was taken.

    `handlers`: each command task's service and handler, by task name. `alone`: nothing is likely
    to wait behind it (orchestrator.batches.backlog_likely): the queue is not looked at."""
    if not queue or settings.SERVICE_BATCH_SIZE <= 1:
        _run_alone(task_name, body, handlers)  # called directly (tests, a shell), or batches off
        return
    limit = 0 if alone else settings.SERVICE_BATCH_SIZE - 1
    pulled = more_messages(queue, tasks=handlers.keys(), limit=limit)
    delivered = [
        _delivered(task_name, body, handlers),
        *(_delivered(p.task, p.body, handlers) for p in pulled),
    ]
    replies: list[tuple[CommandMessage, Result]] = []
    try:
        with transaction.atomic():
            taken = commands_run(
                delivered,
                reply=lambda command, result: replies.append((command, result)),
                until=time.monotonic() + BATCH_SECONDS,
            )
    except Exception:
        if not pulled:
            raise  # the command alone failed, as it would have without batches
        logger.warning("a batch of %d commands failed; the first runs alone", len(delivered), exc_info=True)
        give_back(pulled)
        _run_alone(task_name, body, handlers)
        return
    except BaseException:  # the worker is stopping: the broker delivers them again
        give_back(pulled)
        raise
    done, not_started = pulled[: taken - 1], pulled[taken - 1 :]  # the first is Celery's
    give_back(not_started)
    try:
        replies_publish(replies)
    except BaseException:
        # The records are committed: the commands, delivered again, find them and reply again.
        give_back(done)
        raise
    acknowledge(done)


def _delivered(task_name: str, body: Any, handlers: Mapping[str, tuple[str, Handler]]) -> Delivered:
    service, handler = handlers[task_name]
    return Delivered(task_name, body, service, handler)


def _run_alone(task_name: str, body: Any, handlers: Mapping[str, tuple[str, Handler]]) -> None:
    service, handler = handlers[task_name]
    command_run(body, service=service, task_name=task_name, handler=handler)
