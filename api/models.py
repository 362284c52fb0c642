"""API tokens: only a hash is stored; the token itself is shown once, when it is made."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models

PREFIX = "tok_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'checkout site'.")
    hashed = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The first characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, {self.user})"

    def new_secret(self) -> str:
        """Give this row a fresh token; returns the token, which is never stored."""
        token = PREFIX + secrets.token_urlsafe(32)
        self.hashed = token_hash(token)
        self.prefix = token[:10]
        return token

    @classmethod
    def issue(cls, *, user: Any, name: str) -> tuple[ApiToken, str]:
        """A new token for `user`; returns the row and the token."""
        row = cls(user=user, name=name)
        token = row.new_secret()
        row.save()
        return row, token
