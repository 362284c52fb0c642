from __future__ import annotations

from django.contrib import admin

from dashboard.models import BulkAction
from orchestrator.admin import ReadOnlyAdmin


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdmin):
    list_display = [
        "action",
        "description",
        "status",
        "position",
        "applied",
        "skipped",
        "rate",
        "created_by",
        "created_at",
    ]
    list_filter = ["action", "status"]
