"""The engine, the configuration and the dashboard name no service: what they know of services
comes from the declarations (booking.services.registry). A new service then needs no edit there,
and a service removed leaves no stale name behind."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from booking.services.registry import services_all

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("orchestrator", "config", "dashboard")


def service_words() -> set[str]:
    """Each declared service's name and its singular ("hotels", "hotel"), and its commands."""
    words: set[str] = set()
    for service in services_all():
        words |= {service.name, service.name.removesuffix("s")}
        words |= {command.name for command in service.commands}
    return words


def named_in(source: str, words: Iterable[str]) -> set[str]:
    """The words that appear in `source` as words, in any case ("discard" does not name a car)."""
    return {word for word in words if re.search(rf"(?<![\w.]){re.escape(word)}(?![\w])", source, re.I)}


def test_the_checker_finds_a_service_name_and_only_as_a_word() -> None:
    assert named_in('queue = "hotels"  # the hotel', ["hotels", "hotel"]) == {"hotels", "hotel"}
    assert named_in("send('Payments.charge')", ["payments.charge", "payments"]) == {
        "payments.charge",
        "payments",
    }
    assert named_in("discard the cartridges; scars", ["car", "cars"]) == set()


@pytest.mark.parametrize("folder", SCANNED)
def test_the_folder_names_no_declared_service(folder: str) -> None:
    words = service_words()
    assert {"payments", "flight", "hotels.book"} <= words  # the declarations were loaded
    found = {
        str(path.relative_to(ROOT)): sorted(named)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts and (named := named_in(path.read_text(), words))
    }
    assert found == {}
