"""The commands services declare: a workflow may only send commands that are declared here.

A service declares each command once, with the queue its worker consumes, the shape of its input
and output, the command that undoes it and the business keys its output carries, e.g.::

    register(CommandSpec(name="parcels.ship", queue="parcels", output=ShipOutput,
                         compensation="parcels.recall",
                         keys=(BusinessKey("tracking_number", "tracking number"),)))

The engine reads everything it needs about a service from here: where to send a command
(`command_queues`, `task_route`), what to check, and which values of a step's output people
search by (`searchable_keys`). It never names a service itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydantic import BaseModel, ValidationError


class NoFields(BaseModel):
    pass


@dataclass(frozen=True)
class BusinessKey:
    """A value of a command's output that people quote: a tracking number, a confirmation code."""

    field: str  # its name in the output
    label: str  # for people, e.g. "tracking number"
    searchable: bool = True  # operators find the process by it (orchestrator.keys)


@dataclass(frozen=True)
class CommandSpec:
    name: str  # also the Celery task name, e.g. "parcels.ship"
    queue: str
    description: str = ""
    input: type[BaseModel] = NoFields  # what the command needs from the process input
    output: type[BaseModel] = NoFields  # what a success returns (checked on operator skips too)
    compensation: str | None = None  # the declared command that undoes this one
    is_compensation: bool = False
    # What the command does, for people: a format string over the process `input` and, for an
    # undo, the `output` of the step it undoes, e.g. "recall parcel {output[tracking_number]}".
    summary: str = ""
    keys: tuple[BusinessKey, ...] = ()  # the business keys its output carries


class UnknownCommand(LookupError):
    pass


_registry: dict[str, CommandSpec] = {}


def register(spec: CommandSpec) -> CommandSpec:
    existing = _registry.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"command {spec.name!r} is declared twice, differently")
    _registry[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a command (its service was unregistered); unknown names are ignored."""
    _registry.pop(name, None)


def command_get(name: str) -> CommandSpec:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownCommand(f"unknown command {name!r}; declared: {', '.join(sorted(_registry))}") from None


def commands_all() -> list[CommandSpec]:
    return sorted(_registry.values(), key=lambda spec: spec.name)


def command_queues() -> list[str]:
    """The queues that declared commands go to, each once, sorted."""
    return sorted({spec.queue for spec in _registry.values()})


def queues_all() -> list[str]:
    """Every queue a worker must consume: the orchestrator's own, then every service's."""
    return [settings.ORCHESTRATOR_QUEUE, *(q for q in command_queues() if q != settings.ORCHESTRATOR_QUEUE)]


def task_route(name: str, *args: Any, **kwargs: Any) -> dict[str, str] | None:
    """Celery's router (settings.CELERY_TASK_ROUTES): a declared command goes to its service's queue;
    anything else to the default queue, the orchestrator's."""
    spec = _registry.get(name)
    return {"queue": spec.queue} if spec is not None else None


def searchable_keys(command: str) -> tuple[BusinessKey, ...]:
    """The business keys of a command's output that operators search by (none if undeclared)."""
    spec = _registry.get(command)
    return tuple(key for key in spec.keys if key.searchable) if spec is not None else ()


def searchable_key_labels() -> list[str]:
    """What the search box finds by, in words, each once ("tracking number", ...)."""
    labels = (key.label for spec in commands_all() for key in spec.keys if key.searchable)
    return list(dict.fromkeys(labels))


def command_summary(name: str, *, input: dict[str, Any], output: dict[str, Any] | None = None) -> str:
    """The command's summary filled in, or its name when the details are not known (yet)."""
    try:
        spec = command_get(name)
    except UnknownCommand:
        return name
    if not spec.summary:
        return spec.description or name
    try:
        return spec.summary.format(input=input, output=output or {})
    except (KeyError, IndexError, TypeError, ValueError):
        return spec.description or name


def _problems(exc: ValidationError, root: str) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or root}: {err['msg']}" for err in exc.errors())


def input_problems(commands: list[str], input: Any) -> list[str]:
    """What is wrong with a process's `input` for the commands its workflow sends (each reads it)."""
    problems = []
    for name in dict.fromkeys(commands):
        try:
            command_get(name).input.model_validate(input)
        except ValidationError as exc:
            problems.append(f"input for {name}: {_problems(exc, 'input')}")
    return problems


class InvalidOutput(ValueError):
    """An output (say, an operator's for a skipped step) that its command does not declare."""


def output_validate(command: str, output: Any) -> dict[str, Any]:
    """Check `output` against the command's declared output; raise InvalidOutput with the fields."""
    spec = command_get(command)
    try:
        return spec.output.model_validate(output).model_dump(mode="json")
    except ValidationError as exc:
        raise InvalidOutput(f"output does not match {command}: {_problems(exc, 'output')}") from None
