"""The trip itself: what a booking's process carries, its itinerary, how it reads in one line,
and the sample trips and travellers that the shop, the demo traffic, the load generator and the
history seeder draw from.

The services read the process input as a `TripInput`; a new booking's itinerary is checked as an
`Itinerary` (the API's and the shop's). Everything else that shows a trip goes through
`itinerary_line`, so the itinerary's fields are spelled here and in the shop's catalogue only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, EmailStr, Field


class TripInput(BaseModel):
    """What every trip command reads from the process input."""

    reference: str
    customer_name: str
    customer_email: EmailStr
    amount: str
    currency: str = Field(min_length=3, max_length=3)
    itinerary: dict[str, str] = Field(default_factory=dict)


class Itinerary(BaseModel):
    """Where a new booking goes: checked when it is made (the services read it as plain text)."""

    origin: str = Field(min_length=2, max_length=64, examples=["CDG"])
    destination: str = Field(min_length=2, max_length=64, examples=["JFK"])
    depart_on: date
    return_on: date | None = None
    hotel: str | None = Field(default=None, max_length=100, examples=["Grand Hotel"])


def itinerary_line(itinerary: dict[str, Any]) -> str:
    """The trip in one line: "CDG → JFK on 2027-03-01, Grand Hotel"."""
    line = f"{itinerary.get('origin', '?')} → {itinerary.get('destination', '?')}"
    if itinerary.get("depart_on"):
        line += f" on {itinerary['depart_on']}"
    if itinerary.get("return_on"):
        line += f", back {itinerary['return_on']}"
    if itinerary.get("hotel"):
        line += f", {itinerary['hotel']}"
    return line


def route_of(itinerary: dict[str, Any]) -> str:
    """Where the flight goes and when: "CDG→JFK 2027-03-01"."""
    route = f"{itinerary.get('origin', '???')}→{itinerary.get('destination', '???')}"
    return f"{route} {itinerary.get('depart_on', '')}".strip()


def stay_of(itinerary: dict[str, Any]) -> str:
    """Where the traveller sleeps: the itinerary's hotel, or one in the destination."""
    return itinerary.get("hotel") or f"Hotel in {itinerary.get('destination', 'town')}"


# --- samples ---------------------------------------------------------------------------------

FIRST_NAMES = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Tim",
    "Radia", "Leslie", "Hedy", "John", "Katherine", "Dennis", "Sophie", "Niklaus", "Joan", "Guido",
    "Anita", "Bjarne", "Karen", "Linus", "Shafi", "Tony", "Annie", "Claude", "Mary", "Yukihiro",
]  # fmt: skip
LAST_NAMES = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Allen",
    "Berners", "Perlman", "Lamport", "Lamarr", "McCarthy", "Johnson", "Ritchie", "Wilson", "Wirth",
    "Clarke", "Rossum", "Borg", "Stroustrup", "Jones", "Torvalds", "Goldwasser", "Hoare", "Easley",
    "Shannon", "Keller", "Matsumoto",
]  # fmt: skip
AIRPORTS = ["CDG", "JFK", "LHR", "FCO", "MAD", "BER", "LIS", "ATH", "NRT", "SFO", "YUL", "CPT", "GRU", "SYD"]
HOTELS = ["Grand Hotel", "Hotel du Parc", "Harbour Inn", "City Lodge", "The Atrium", "Seaside Suites"]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP"]


def itinerary_random(rng: random.Random, *, year: int = 2027) -> dict[str, str]:
    origin, destination = rng.sample(AIRPORTS, 2)
    return {
        "origin": origin,
        "destination": destination,
        "depart_on": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "hotel": rng.choice(HOTELS),
    }


def traveller_random(rng: random.Random) -> tuple[str, str]:
    """(name, e-mail) of a made-up traveller."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@example.com"


def trip_random(rng: random.Random) -> dict[str, Any]:
    """The fields of a made-up booking (booking.bookings.booking_create)."""
    name, email = traveller_random(rng)
    return {
        "customer_name": name,
        "customer_email": email,
        "itinerary": itinerary_random(rng),
        "amount": Decimal(rng.randint(9000, 250000)) / 100,
        "currency": rng.choice(CURRENCIES),
    }


# A booking as an API client sends it (the README's example, the chaos crowd).
SAMPLE_BOOKING: dict[str, Any] = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "itinerary": {"origin": "CDG", "destination": "JFK", "depart_on": "2027-03-01", "hotel": "Grand Hotel"},
    "amount": "420.00",
    "currency": "EUR",
}


@dataclass(frozen=True)
class Package:
    """A trip the shop sells (booking.checkout)."""

    code: str
    title: str
    origin: str
    destination: str
    hotel: str
    price: Decimal
    currency: str = "EUR"

    def itinerary(self, depart_on: date) -> dict[str, str]:
        return {
            "origin": self.origin,
            "destination": self.destination,
            "hotel": self.hotel,
            "depart_on": depart_on.isoformat(),
        }


CATALOGUE = [
    Package(
        "paris-new-york",
        "Paris → New York, 4 nights at the Grand Hotel",
        "CDG",
        "JFK",
        "Grand Hotel",
        Decimal("1290.00"),
    ),
    Package(
        "lisbon-athens",
        "Lisbon → Athens, 3 nights at the Harbour Inn",
        "LIS",
        "ATH",
        "Harbour Inn",
        Decimal("540.00"),
    ),
    Package(
        "berlin-tokyo",
        "Berlin → Tokyo, 7 nights at the City Lodge",
        "BER",
        "NRT",
        "City Lodge",
        Decimal("2480.00"),
    ),
]
