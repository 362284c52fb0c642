"""A worker keeps the fault settings it read until they change, wherever they are changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from booking.faults import faults_for, faults_set
from booking.models import ServiceFaults

pytestmark = pytest.mark.django_db


def test_settings_are_read_once_then_again_after_any_change(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        faults_set("hotels", technical_rate=0.5)
    first = faults_for("hotels")
    assert first is not None and first.technical_rate == 0.5
    with CaptureQueriesContext(connection) as queries:
        assert faults_for("hotels") is first
    assert len(queries) == 0  # kept, not read for every command
    # Changed as the admin does, by saving the row: the next command reads the new settings.
    with django_capture_on_commit_callbacks(execute=True):
        row = ServiceFaults.objects.get(service="hotels")
        row.technical_rate = 0.0
        row.save()
    again = faults_for("hotels")
    assert again is not None and again.technical_rate == 0.0
