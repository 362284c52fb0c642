"""A service worker's batch, run in this process against the real broker: the commands waiting
behind the delivered one run in one transaction and are acknowledged after their replies went
out; a batch that fails gives them back to the queue and runs the delivered command alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from booking.models import Charge
from booking.providers import payments
from booking.services.batches import commands_take
from booking.services.declaration import Handler, Result
from booking.services.registry import command_handlers
from orchestrator.messages import CommandMessage
from orchestrator.models import Outbox
from orchestrator.processes import process_start
from tests.support.engine import trip_input
from tests.support.services import broker_purge, broker_waiting

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]

QUEUE = "payments"
CHARGE = "payments.charge"


@pytest.fixture
def charges_waiting(transactional_db: None, redis_url: str, trip_workflows: None) -> Iterator[list[Any]]:
    """Three payment commands: the first as Celery would deliver it, two more waiting in the queue."""
    from config.celery import app

    bodies = []
    for n in range(3):
        process, _ = process_start(
            workflow="trip-booking", business_key=f"batch-{uuid.uuid4()}", input=trip_input(f"TRP-BATCH{n}")
        )
        bodies.append(Outbox.objects.filter(process=process).latest("id").body)
    broker_purge([QUEUE])  # what the starts published: this test delivers them itself
    for body in bodies[1:]:
        app.send_task(CHARGE, args=(body,), queue=QUEUE)
    yield bodies
    broker_purge([QUEUE])


@pytest.fixture
def replies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The replies published, by the process they answer (the commands were published already)."""
    from orchestrator import publishing

    sent: list[str] = []
    monkeypatch.setattr(
        publishing, "tasks_publish", lambda messages, **kw: sent.extend(m.arg["process_id"] for m in messages)
    )
    return sent


def test_the_commands_waiting_run_with_the_delivered_one(
    charges_waiting: list[Any], replies: list[str]
) -> None:
    assert broker_waiting(QUEUE) == 2
    commands_take(CHARGE, charges_waiting[0], queue=QUEUE, handlers=command_handlers())
    assert Charge.objects.filter(status="charged").count() == 3
    assert sorted(replies) == sorted(body["process_id"] for body in charges_waiting)
    assert broker_waiting(QUEUE) == 0


def test_a_failed_batch_gives_the_others_back_and_runs_the_delivered_one_alone(
    charges_waiting: list[Any], replies: list[str]
) -> None:
    doomed = charges_waiting[2]["process_id"]

    def charge_or_break(command: CommandMessage, refuse: bool) -> Result:
        if str(command.process_id) == doomed:
            raise RuntimeError("the provider's client crashed")
        return payments.charge(command, refuse)

    handlers: dict[str, tuple[str, Handler]] = {**command_handlers(), CHARGE: ("payments", charge_or_break)}
    commands_take(CHARGE, charges_waiting[0], queue=QUEUE, handlers=handlers)
    charged = Charge.objects.filter(status="charged").values_list("process_id", flat=True)
    assert [str(p) for p in charged] == [charges_waiting[0]["process_id"]]  # the batch's work undone
    assert replies == [charges_waiting[0]["process_id"]]
    assert broker_waiting(QUEUE) == 2  # back in the queue, for the next turn


def test_batches_of_one_take_nothing_more(
    charges_waiting: list[Any], replies: list[str], settings: Any
) -> None:
    settings.SERVICE_BATCH_SIZE = 1
    commands_take(CHARGE, charges_waiting[0], queue=QUEUE, handlers=command_handlers())
    assert Charge.objects.filter(status="charged").count() == 1
    assert broker_waiting(QUEUE) == 2


def test_a_command_called_directly_runs_alone(charges_waiting: list[Any], replies: list[str]) -> None:
    assert settings.SERVICE_BATCH_SIZE > 1  # batches are on: only the missing queue keeps it alone
    commands_take(CHARGE, charges_waiting[0], queue=None, handlers=command_handlers())
    assert Charge.objects.filter(status="charged").count() == 1
    assert broker_waiting(QUEUE) == 2


def test_a_command_met_by_the_database_away_is_tried_again(
    charges_waiting: list[Any], replies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a PostgreSQL restart under a busy worker: the command is retried by its task, not
    dropped until the step's timeout."""
    from django.db import OperationalError

    from booking.services import batches
    from config.celery import app

    broker_purge([QUEUE])
    run_alone = batches.command_run
    failures: list[str] = []

    def away_twice(body: Any, **kwargs: Any) -> None:
        if len(failures) < 2:
            failures.append("away")
            raise OperationalError("terminating connection due to administrator command")
        run_alone(body, **kwargs)

    monkeypatch.setattr(batches, "command_run", away_twice)
    result = app.tasks[CHARGE].apply(args=(charges_waiting[0],))  # run here, retries included
    assert result.successful(), result.traceback
    assert failures == ["away", "away"]
    assert Charge.objects.count() == 1
    assert replies == [charges_waiting[0]["process_id"]]
