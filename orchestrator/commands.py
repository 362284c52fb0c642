"""The commands services declare: a workflow may only send commands that are declared here.

A service module declares each command once, with the queue its worker consumes and the shape
of its input and output, e.g.::

    register(CommandSpec(name="payments.charge", queue="payments", output=ChargeOutput,
                         compensation="payments.refund", ...))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


class NoFields(BaseModel):
    pass


@dataclass(frozen=True)
class CommandSpec:
    name: str  # also the Celery task name, e.g. "payments.charge"
    queue: str
    description: str = ""
    input: type[BaseModel] = NoFields  # what the command needs from the process input
    output: type[BaseModel] = NoFields  # what a success returns (checked on operator skips too)
    compensation: str | None = None  # the declared command that undoes this one
    is_compensation: bool = False
    # What the command does, for people: a format string over the process `input` and, for an
    # undo, the `output` of the step it undoes, e.g. "refund {output[amount]} {output[currency]}".
    summary: str = ""


class UnknownCommand(LookupError):
    pass


_registry: dict[str, CommandSpec] = {}


def register(spec: CommandSpec) -> CommandSpec:
    existing = _registry.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"command {spec.name!r} is declared twice, differently")
    _registry[spec.name] = spec
    return spec


def command_get(name: str) -> CommandSpec:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownCommand(f"unknown command {name!r}; declared: {', '.join(sorted(_registry))}") from None


def commands_all() -> list[CommandSpec]:
    return sorted(_registry.values(), key=lambda spec: spec.name)


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
