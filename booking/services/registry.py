"""The registry of declared services: the one list of services, every other list derives from it.

At start-up (booking's AppConfig.ready) `services_load` imports every module of `booking.providers`
and of `settings.SERVICE_MODULES` and registers the `SERVICE` each declares. Registering a
service declares its commands to the engine (orchestrator.commands: checked workflows, queues,
routes, previews, searchable keys) and makes one Celery task per command, consumed from the
service's queue.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from booking.services.declaration import Handler, InvalidDeclaration, Service, declaration_problems
from orchestrator import commands as engine_commands
from orchestrator.commands import CommandSpec

PROVIDERS_PACKAGE = "booking.providers"

_services: dict[str, Service] = {}
# Each command's service and handler, by command (= task) name: a batch runs whichever it takes.
_handlers: dict[str, tuple[str, Handler]] = {}


class UnknownService(LookupError, ValueError):
    """A name no declared service has (a lookup, and a bad value where a name is given)."""


def services_load(modules: Iterable[str] | None = None) -> list[Service]:
    """Register the service each module declares (`SERVICE`): by default the modules of
    booking.providers, then those settings.SERVICE_MODULES names. Returns the services found."""
    if modules is None:
        package = importlib.import_module(PROVIDERS_PACKAGE)
        found = [f"{PROVIDERS_PACKAGE}.{info.name}" for info in pkgutil.iter_modules(package.__path__)]
        modules = [*sorted(found), *settings.SERVICE_MODULES]
    loaded = []
    for name in modules:
        module = importlib.import_module(name)
        service = getattr(module, "SERVICE", None)
        if service is None:
            continue  # a helper module beside the services
        if not isinstance(service, Service):
            raise InvalidDeclaration(f"{name}.SERVICE is a {type(service).__name__}, not a Service")
        loaded.append(service_register(service))
    return loaded


def service_register(service: Service) -> Service:
    """Register one service (again: no change); raise InvalidDeclaration when it cannot work."""
    if problems := declaration_problems(service):
        raise InvalidDeclaration(f"service {service.name!r}: {'; '.join(problems)}")
    existing = _services.get(service.name)
    if existing is not None:
        if existing != service:
            raise InvalidDeclaration(f"service {service.name!r} is declared twice, differently")
        return existing
    if service.queue == settings.ORCHESTRATOR_QUEUE:
        raise InvalidDeclaration(
            f"service {service.name!r}: the queue {service.queue!r} is the orchestrator's"
        )
    undoes = {command.undo for command in service.commands if command.undo}
    specs = [
        CommandSpec(
            name=command.name,
            queue=service.queue,
            description=command.description,
            input=command.input,
            output=command.output,
            compensation=command.undo,
            is_compensation=command.name in undoes,
            summary=command.summary,
            keys=command.keys,
        )
        for command in service.commands
    ]
    for spec in specs:
        engine_commands.register(spec)  # raises when another service declared the name
    for command in service.commands:
        _handlers[command.name] = (service.name, command.handler)
        _command_task(command.name)
    _services[service.name] = service
    return service


def service_unregister(name: str) -> None:
    """Forget a service and its commands (a plug-in removed, a test's own service)."""
    from config.celery import app

    service = _services.pop(name, None)
    if service is None:
        return
    for command in service.commands:
        engine_commands.unregister(command.name)
        _handlers.pop(command.name, None)
        app.tasks.pop(command.name, None)


def _command_task(name: str) -> Any:
    # Imported here: the batch runner reads fault settings, which are kept by declared service.
    from booking.services.batches import commands_take
    from config.celery import app
    from orchestrator.batches import backlog_likely
    from orchestrator.processes import TRANSIENT_ERRORS

    def run(self: Any, body: Any) -> None:
        delivery = self.request.delivery_info or {}
        alone = not backlog_likely(self.request)
        try:
            commands_take(name, body, queue=delivery.get("routing_key"), handlers=_handlers, alone=alone)
        except TRANSIENT_ERRORS as exc:
            # The database is away (a restart, a failover): nothing was done; try again shortly,
            # as the orchestrator's tasks do. Past the last retry the step's timeout takes over.
            raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc

    run.__name__ = name.replace(".", "_").replace("-", "_")
    run.__doc__ = f"The {name} command, with those waiting behind it (booking.services.batches)."
    return app.task(name=name, bind=True, shared=False, max_retries=10)(run)


def services_all() -> list[Service]:
    """Every registered service, by name."""
    return [_services[name] for name in sorted(_services)]


def service_get(name: str) -> Service:
    try:
        return _services[name]
    except KeyError:
        raise UnknownService(f"unknown service {name!r}; one of {', '.join(sorted(_services))}") from None


def service_names() -> list[str]:
    return sorted(_services)


def service_of_command(command: str) -> Service | None:
    """The service that handles `command` (None for an undeclared one)."""
    owner = _handlers.get(command)
    return _services.get(owner[0]) if owner else None


def command_handlers() -> dict[str, tuple[str, Handler]]:
    """(service, handler) of every declared command, by name: what a batch runs."""
    return dict(_handlers)


def service_queues() -> list[str]:
    """The queues the services' workers consume, each once, sorted."""
    return sorted({service.queue for service in _services.values()})
