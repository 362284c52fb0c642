"""API tokens in the admin: made here (the token is shown once), revoked here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from api.models import ApiToken


class TokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "revoked"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = TokenForm
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A token acts as its user: only a superuser makes one for someone else, and a token
        # never moves to another user. Revoking is for good, but for a superuser.
        fields = list(self.readonly_fields)
        if obj is not None or not request.user.is_superuser:
            fields.append("user")
        if obj is not None and obj.revoked and not request.user.is_superuser:
            fields.append("revoked")
        return fields

    def get_queryset(self, request: HttpRequest) -> Any:
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change and not obj.revoked and not request.user.is_superuser:
            # Whatever the form said: a token revoked before stays revoked.
            obj.revoked = ApiToken.objects.filter(pk=obj.pk, revoked=True).exists()
        if not change:
            if not request.user.is_superuser:
                obj.user = request.user  # type: ignore[assignment]
            token = obj.new_secret()
            messages.warning(request, f"The new token (copy it now, it is not shown again): {token}")
        super().save_model(request, obj, form, change)
