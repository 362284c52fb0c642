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
from ninja.security import HttpBearer, SessionAuth

from api.models import ApiToken, token_hash


def token_user(token: str) -> Any:
    """The active user a token belongs to, or None."""
    row = ApiToken.objects.select_related("user").filter(hashed=token_hash(token), revoked=False).first()
    if row is None or not row.user.is_active:
        return None
    # Note the use now and then, not on every call (a write per request adds up).
    if row.last_used_at is None or timezone.now() - row.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.user


def _allowed(user: Any, permission: str | None) -> Any:
    """The user, once they have the route's permission; 403 with its name otherwise."""
    if permission and not user.has_perm(permission):
        raise HttpError(403, f"You need the permission {permission!r} for this.")
    return user


# A route's permission: a name, or a function of the request (of its path, say).
Permission = str | Callable[[HttpRequest], str | None]


def _permission_for(request: HttpRequest, permission: Permission) -> str | None:
    return permission(request) if callable(permission) else permission


class BearerToken(HttpBearer):
    """Other systems: `Authorization: Bearer <token>`, acting with the token's user's permissions."""

    def __init__(self, permission: Permission) -> None:
        super().__init__()
        self.permission = permission

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_user(token)
        if user is None:
            return None
        request.user = user
        return _allowed(user, _permission_for(request, self.permission))


class Session(SessionAuth):
    """A logged-in browser, with its CSRF token."""

    def __init__(self, permission: Permission) -> None:
        super().__init__()
        self.permission = permission

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return _allowed(user, _permission_for(request, self.permission)) if user is not None else None


def needs(permission: Permission) -> list[Any]:
    """Who may call a route: a token or a session whose user has `permission`. Checked before the
    request's body is even read, so a caller without it learns nothing but the 401 or 403."""
    return [BearerToken(permission), Session(permission)]


def require(request: HttpRequest, permission: str) -> None:
    """403 with the missing permission's name, like the dashboard (for checks within a route)."""
    user: Any = getattr(request, "auth", None) or getattr(request, "user", None) or AnonymousUser()
    _allowed(user, permission)


def docs_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The API's documentation is for its users: a logged-in session or a valid bearer token."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if request.user.is_authenticated or (token and token_user(token)):
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return JsonResponse(
                {"detail": "Authentication required: send 'Authorization: Bearer <token>' or log in."},
                status=401,
            )
        return redirect_to_login(request.get_full_path())

    return wrapper
