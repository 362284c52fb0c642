"""What the engine's admin pages share."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString


def dashboard_link(process_id: object, label: str = "open in dashboard") -> SafeString:
    return format_html('<a href="{}">{}</a>', reverse("dashboard:process", args=[process_id]), label)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody edits by hand: the history, the outbox, the services' own records."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
