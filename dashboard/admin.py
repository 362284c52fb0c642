from __future__ import annotations

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from dashboard.models import BulkAction
from orchestrator.admin.common import ReadOnlyAdmin


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


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' admin, but cleaning up attempts needs the permission to delete them."""

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)
