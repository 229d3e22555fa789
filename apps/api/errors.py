"""Every API failure is JSON `{"code": "...", "message": "..."}`: `code` is stable for programs
to branch on, `message` is for people (translated). Nothing else about the failure leaves the
server: no traceback, no provider detail, no key."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JsonResponse:
    response = JsonResponse({"code": code, "message": str(message), **extra}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def not_found() -> ApiError:
    return ApiError(404, "not_found", _("Not found."))


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors:
        where = ".".join(str(p) for p in item.get("loc", ())[1:]) or "body"
        parts.append(f"{where}: {item.get('msg', '')}")
    return "; ".join(parts) or _("The request is not valid.")


def install(api: NinjaAPI) -> None:
    """Answer every failure of `api` in the one error shape."""

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "missing_key",
            _("Send an API key: Authorization: Bearer <key>."),
            {"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(ValidationError)
    def _invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
        return error_response(422, "invalid_input", _validation_message(error))

    @api.exception_handler(Http404)
    def _missing(request: HttpRequest, error: Http404) -> HttpResponse:
        return error_response(404, "not_found", _("Not found."))

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
        return error_response(403, "forbidden", str(error) or _("Not allowed."))

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, error: HttpError) -> HttpResponse:
        return error_response(error.status_code, "http_error", str(error))
