"""Trip bookings and the records each service keeps of what it did.

Every service record is keyed by the command's idempotency key (one per process and step), so a
command delivered twice finds the record of the first delivery and has no second effect. An undo
that arrives before anything was done leaves a *voided* record behind: a late copy of the command
then finds it and is refused, instead of acting after the process was compensated.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper

from booking.trip import itinerary_line
from orchestrator.models import ProcessInstance


class Booking(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=16, unique=True)
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    itinerary = models.JSONField(default=dict)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    workflow = models.SlugField(max_length=100)
    process = models.OneToOneField(
        ProcessInstance, null=True, blank=True, on_delete=models.PROTECT, related_name="booking"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # An Idempotency-Key returns the same booking for the same key within its scope: "user:<id>"
    # for an API client, "checkout" for the customer form. The scope outlives the user (deleting
    # an account never makes two bookings' keys collide); the owner is kept for display.
    idempotency_scope = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    idempotency_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Hash of the request that made it."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_scope", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="booking_idempotency_scope_key_unique",
            ),
        ]
        # The operators' search by the customer's e-mail, as typed in any case (booking.search).
        indexes = [models.Index(Upper("customer_email"), name="booking_email_upper")]

    def __str__(self) -> str:
        return self.reference

    @property
    def itinerary_line(self) -> str:
        """The trip in one line (booking.trip.itinerary_line)."""
        return itinerary_line(self.itinerary)


class ServiceRecord(models.Model):
    """What one service did for one idempotency key."""

    key = models.CharField(max_length=200, unique=True)
    process_id = models.UUIDField(db_index=True)
    booking_reference = models.CharField(max_length=16, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Charge(ServiceRecord):
    class Status(models.TextChoices):
        CHARGED = "charged", "Charged"
        DECLINED = "declined", "Declined"
        VOIDED = "voided", "Voided before it was charged"

    status = models.CharField(max_length=16, choices=Status.choices)
    payment_id = models.CharField(max_length=32, blank=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)

    def __str__(self) -> str:
        return f"{self.payment_id or self.key} {self.status}"


class Refund(models.Model):
    charge = models.OneToOneField(Charge, on_delete=models.PROTECT, related_name="refund")
    refund_id = models.CharField(max_length=32, unique=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.refund_id} {self.amount} {self.currency}"


class Reservation(ServiceRecord):
    """What a reserving service holds under one idempotency key: a seat, a room, a car, a policy.

    One table for every such service (`service` says which), so a new one keeps its records here
    from its first command, with no migration (booking.services.reservations).
    """

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        REFUSED = "refused", "Refused (sold out, declined)"
        CANCELLED = "cancelled", "Cancelled"
        VOIDED = "voided", "Voided before it was booked"

    service = models.SlugField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    code = models.CharField(
        max_length=32, blank=True, help_text="What the customer quotes: a PNR, a confirmation number."
    )
    details = models.CharField(max_length=200, blank=True, help_text="What was booked, in words.")
    cancelled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.service} {self.code or self.key} {self.status}"


class Notification(ServiceRecord):
    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        BOUNCED = "bounced", "Bounced"

    status = models.CharField(max_length=16, choices=Status.choices)
    template = models.CharField(max_length=32)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()

    def __str__(self) -> str:
        return f"{self.template} to {self.to}"


class ServiceFaults(models.Model):
    """Faults injected into one service, read at every command, so anyone can watch recovery."""

    rate_validators = [MinValueValidator(0.0), MaxValueValidator(1.0)]

    # A declared service's name (booking.services.registry); the row is made when first needed.
    service = models.CharField(max_length=64, unique=True)
    technical_rate = models.FloatField(
        default=0.0, validators=rate_validators, help_text="Share of commands that fail technically (0 to 1)."
    )
    business_rate = models.FloatField(
        default=0.0,
        validators=rate_validators,
        help_text="Share of actions refused: declined, sold out, bounced.",
    )
    latency_ms = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(60_000)], help_text="Added to every command."
    )
    outage = models.BooleanField(default=False, help_text="Take every command and never answer.")
    seed = models.BigIntegerField(
        null=True, blank=True, help_text="Makes the faults repeatable: the same command draws the same fault."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service"]
        verbose_name_plural = "service faults"

    def __str__(self) -> str:
        return f"faults of {self.service}"


class DemoTraffic(models.Model):
    """The switch for gentle demo traffic: one booking every few seconds (a single row)."""

    enabled = models.BooleanField(default=False)
    every_seconds = models.FloatField(
        default=3.0, validators=[MinValueValidator(0.5), MaxValueValidator(3600)]
    )
    last_booking_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "demo traffic"

    def __str__(self) -> str:
        return f"demo traffic {'on' if self.enabled else 'off'}, every {self.every_seconds:g} s"
