from __future__ import annotations

from django.conf import settings

from config.celery import app


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


def test_every_task_of_the_project_has_an_explicit_route_to_a_known_queue() -> None:
    app.loader.import_default_modules()
    ours = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert ours, "no project task registered"
    routes = settings.CELERY_TASK_ROUTES
    unrouted = [name for name in ours if name not in routes]
    assert unrouted == []
    assert {routes[name]["queue"] for name in ours} <= set(settings.ALL_QUEUES)
