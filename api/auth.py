"""Who is calling: a bearer token (other systems) or the browser's session (with CSRF)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer, django_auth

from api.models import ApiToken, token_hash


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        row = ApiToken.objects.select_related("user").filter(hashed=token_hash(token), revoked=False).first()
        if row is None or not row.user.is_active:
            return None
        # Note the use now and then, not on every call (a write per request adds up).
        if row.last_used_at is None or timezone.now() - row.last_used_at > timedelta(minutes=5):
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        request.user = row.user
        return row.user


AUTH: list[Any] = [BearerToken(), django_auth]


def require(request: HttpRequest, permission: str) -> None:
    """403 with the missing permission's name, like the dashboard."""
    user: Any = getattr(request, "auth", None) or getattr(request, "user", None) or AnonymousUser()
    if not user.has_perm(permission):
        raise HttpError(403, f"You need the permission {permission!r} for this.")


def docs_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The API's documentation is for its users: a logged-in session or a valid bearer token."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if request.user.is_authenticated or (token and BearerToken().authenticate(request, token)):
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return JsonResponse(
                {"detail": "Authentication required: send 'Authorization: Bearer <token>' or log in."},
                status=401,
            )
        return redirect_to_login(request.get_full_path())

    return wrapper
