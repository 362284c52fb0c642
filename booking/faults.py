"""Fault injection: what goes wrong with one command, drawn from the service's fault settings."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from booking.models import ServiceFaults
from booking.services.registry import service_get, services_all


@dataclass(frozen=True)
class FaultDraw:
    outage: bool = False  # take the command and never answer
    technical: bool = False  # fail without doing anything
    business: bool = False  # refuse: declined, sold out, bounced (actions only)
    latency: float = 0.0  # seconds added before answering


NO_FAULTS = FaultDraw()
logger = logging.getLogger(__name__)


# A service reads its fault settings for every command. Each worker keeps what it read, with the
# settings' version from the shared cache (one GET, cheaper than the query); any change to the
# settings bumps the version once committed, so the next command reads them again.
VERSION_KEY = "booking:faults-version"
_known: dict[str, tuple[object, ServiceFaults | None]] = {}


def faults_for(service: str) -> ServiceFaults | None:
    version = _version()
    known = _known.get(service)
    if known is not None and version is not None and known[0] == version:
        return known[1]
    try:
        faults: ServiceFaults | None = ServiceFaults.objects.get(service=service)
    except ServiceFaults.DoesNotExist:
        faults = None
    _known[service] = (version, faults)
    return faults


def _version() -> object:
    """The settings' version, or None when the cache does not answer (then read each time)."""
    try:
        return cache.get_or_set(VERSION_KEY, time.time_ns(), timeout=None)
    except Exception:
        return None


@receiver([post_save, post_delete], sender=ServiceFaults)
def _settings_changed(**kwargs: object) -> None:
    """Every change, from the API, the dashboard or the admin: workers read the settings again."""

    def bump() -> None:
        try:
            cache.set(VERSION_KEY, time.time_ns(), timeout=None)
        except Exception:
            logger.warning(
                "fault settings changed but the cache is away: workers may act on the old ones", exc_info=True
            )

    transaction.on_commit(bump)


def faults_of(service: str) -> ServiceFaults:
    """The fault settings of a declared service, made (all off) the first time they are asked for."""
    service_get(service)  # UnknownService otherwise
    faults, _ = ServiceFaults.objects.get_or_create(service=service)
    return faults


def faults_all() -> list[ServiceFaults]:
    """The fault settings of every declared service, by name."""
    return [faults_of(service.name) for service in services_all()]


def demo_faults_load() -> None:
    """Give each declared service that has no fault settings yet its demo ones (a few failures,
    so that a fresh demo shows retries and compensations)."""
    for service in services_all():
        ServiceFaults.objects.get_or_create(
            service=service.name,
            defaults={
                "technical_rate": service.demo_faults.technical_rate,
                "business_rate": service.demo_faults.business_rate,
            },
        )


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
    """Change some fault settings of one service; the others keep their values. Raises
    UnknownService for a service nobody declared."""
    faults = faults_of(service)
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
    return faults
