"""Who may see and do what on the dashboard.

Every page and socket needs staff status and the permission to read processes (the API's rule
too); each action needs its own permission, checked again by the engine itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from orchestrator.actions import VIEW_PERMISSION

View = Callable[..., HttpResponse]
# What the customer columns, the booking card and the ledger of what services did need.
BOOKING_VIEW_PERMISSION = "booking.view_booking"


def may_use_dashboard(user: Any) -> bool:
    """Active staff who may read processes: the rule for every page and socket."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(VIEW_PERMISSION)
    )


def dashboard_view(view: View) -> View:
    """Anonymous users go to the login page; everyone else needs what `may_use_dashboard` says."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The dashboard is for staff only.")
        if not may_use_dashboard(request.user):
            raise PermissionDenied(f"The dashboard needs the permission {VIEW_PERMISSION!r}.")
        return view(request, *args, **kwargs)

    return wrapper


def require_permission(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"You need the permission {permission!r} for this.")
