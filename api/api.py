"""The NinjaAPI instance: authentication, routes, and errors as JSON `{detail, errors}`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema

from api.auth import docs_login_required
from api.routes import Conflict, NotFound, router
from booking.services.registry import service_names
from orchestrator.commands import InvalidOutput
from orchestrator.processes import InvalidInput


class OrchestratorApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        """The schema, with the services declared now as the choices of a service's name."""
        schema = super().get_openapi_schema(**kwargs)
        for path, operations in schema["paths"].items():
            if "/services/{name}/" not in path:
                continue
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "path" and parameter.get("name") == "name":
                        parameter["schema"]["enum"] = service_names()
        return schema


api = OrchestratorApi(
    title="Trip orchestrator API",
    version="1.1",
    description=(
        "Book trips, start and follow processes, act on them as an operator, and set the services' "
        "faults. Authenticate with `Authorization: Bearer <token>` (`manage.py create_api_token USER`) "
        'or a logged-in browser session. Errors are JSON: `{"detail": ..., "errors": [...]}`.'
    ),
    urls_namespace="api",
    docs_decorator=docs_login_required,
)
api.add_router("/", router)


def _error(
    request: HttpRequest, status: int, detail: str, errors: list[dict[str, Any]] | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    return api.create_response(request, body, status=status)


@api.exception_handler(ValidationError)
def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"loc": [str(p) for p in e.get("loc", [])], "msg": str(e.get("msg", ""))} for e in exc.errors]
    return _error(request, 422, "The request is not valid: see errors.", errors)


@api.exception_handler(Conflict)
def conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(NotFound)
def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return _error(request, 404, str(exc))


@api.exception_handler(Http404)
def django_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Authentication required: send 'Authorization: Bearer <token>'.")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "You may not do this.")


@api.exception_handler(RequestDataTooBig)
def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "The request body is too large.")


@api.exception_handler(InvalidInput)
@api.exception_handler(InvalidOutput)
def refused_value(request: HttpRequest, exc: ValueError) -> HttpResponse:
    """Values the schemas let through but the workflow refuses (a process's input, a skip's
    output). Any other error is a bug and must not pass for the caller's fault."""
    return _error(request, 422, str(exc))
