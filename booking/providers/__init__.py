"""The simulated providers a trip is booked with, one module each. Each module declares its
service (`SERVICE`, see booking.services.declaration); the registry finds every module of this
package at start-up.

What they share: the trip each command is about (`trip_input`).
"""

from __future__ import annotations

from pydantic import ValidationError

from booking.services.declaration import Result
from booking.trip import TripInput
from orchestrator.messages import CommandMessage


def trip_input(command: CommandMessage) -> TripInput | Result:
    """The trip the command is about, or a refusal when the process input cannot be one."""
    try:
        return TripInput.model_validate(command.payload.get("input", {}))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        return Result(succeeded=False, error=f"invalid trip input ({fields})", business=True)
