"""Fault injection: what goes wrong with one command, drawn from the service's fault settings."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from booking.models import ServiceFaults


@dataclass(frozen=True)
class FaultDraw:
    outage: bool = False  # take the command and never answer
    technical: bool = False  # fail without doing anything
    business: bool = False  # refuse: declined, sold out, bounced (actions only)
    latency: float = 0.0  # seconds added before answering


NO_FAULTS = FaultDraw()


# A service reads its fault settings for every command: each worker keeps them this long rather
# than asking the database each time, so a change reaches the workers within a second.
FRESH_FOR = 1.0
_known: dict[str, tuple[float, ServiceFaults | None]] = {}


def faults_for(service: str) -> ServiceFaults | None:
    now = time.monotonic()
    known = _known.get(service)
    if known is not None and now - known[0] < FRESH_FOR:
        return known[1]
    try:
        faults: ServiceFaults | None = ServiceFaults.objects.get(service=service)
    except ServiceFaults.DoesNotExist:
        faults = None
    _known[service] = (now, faults)
    return faults


def faults_forget() -> None:
    """Read every service's settings from the database next time (tests roll the database back)."""
    _known.clear()


def fault_draw(faults: ServiceFaults | None, *, key: str, kind: str, attempt: int) -> FaultDraw:
    """Draw the faults for one delivery. With a seed, the same command always draws the same."""
    if faults is None:
        return NO_FAULTS
    rng = (
        random.Random(f"{faults.seed}:{key}:{kind}:{attempt}") if faults.seed is not None else random.Random()
    )
    technical = rng.random() < faults.technical_rate
    business = kind == "action" and rng.random() < faults.business_rate
    return FaultDraw(
        outage=faults.outage, technical=technical, business=business, latency=faults.latency_ms / 1000
    )


def faults_set(
    service: str,
    *,
    technical_rate: float | None = None,
    business_rate: float | None = None,
    latency_ms: int | None = None,
    outage: bool | None = None,
    seed: int | None = None,
    clear_seed: bool = False,
) -> ServiceFaults:
    """Change some fault settings of one service; the others keep their values."""
    if service not in ServiceFaults.Service.values:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(ServiceFaults.Service.values)}")
    faults, _ = ServiceFaults.objects.get_or_create(service=service)
    for name, value in (
        ("technical_rate", technical_rate),
        ("business_rate", business_rate),
        ("latency_ms", latency_ms),
        ("outage", outage),
        ("seed", seed),
    ):
        if value is not None:
            setattr(faults, name, value)
    if clear_seed:
        faults.seed = None
    faults.full_clean()
    faults.save()
    _known.pop(service, None)  # this process sees the change at once, the others within FRESH_FOR
    return faults
