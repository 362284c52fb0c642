from __future__ import annotations

from django.conf import settings

from config.celery import app
from orchestrator.commands import commands_all, queues_all


def test_celery_is_configured_for_at_least_once_delivery_with_json_only() -> None:
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.task_ignore_result is True
    assert conf.result_backend is None


def test_every_command_goes_to_its_services_queue_and_every_other_task_to_the_orchestrators() -> None:
    app.loader.import_default_modules()
    ours = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert ours, "no project task registered"
    queue_of = {name: app.amqp.router.route({}, name)["queue"].name for name in ours}
    declared = {spec.name: spec.queue for spec in commands_all()}
    assert declared and {name: queue_of[name] for name in declared} == declared
    others = {name: queue for name, queue in queue_of.items() if name not in declared}
    assert "orchestrator.event" in others and "orchestrator.tick" in others
    assert set(others.values()) == {settings.ORCHESTRATOR_QUEUE}
    assert set(queue_of.values()) == set(queues_all())
