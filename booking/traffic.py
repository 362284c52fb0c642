"""Gentle demo traffic: a booking every few seconds while the switch is on."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from booking.bookings import booking_create
from booking.models import Booking, DemoTraffic
from booking.trip import trip_random


def demo_traffic_get() -> DemoTraffic:
    traffic, _ = DemoTraffic.objects.get_or_create(pk=1)
    return traffic


def demo_traffic_set(*, enabled: bool, every_seconds: float | None = None) -> DemoTraffic:
    traffic = demo_traffic_get()
    traffic.enabled = enabled
    if every_seconds is not None:
        traffic.every_seconds = every_seconds
    traffic.full_clean()
    traffic.save()
    return traffic


def demo_traffic_step() -> Booking | None:
    """Start one booking if the switch is on and one is due; returns it."""
    with transaction.atomic():
        traffic = DemoTraffic.objects.select_for_update().filter(pk=1).first()
        now = timezone.now()
        if traffic is None or not traffic.enabled:
            return None
        if traffic.last_booking_at and now - traffic.last_booking_at < timedelta(
            seconds=traffic.every_seconds
        ):
            return None
        traffic.last_booking_at = now
        traffic.save(update_fields=["last_booking_at"])
        return booking_create(
            workflow=random.choice(["trip-booking", "trip-booking-parallel"]), **trip_random(random.Random())
        )
