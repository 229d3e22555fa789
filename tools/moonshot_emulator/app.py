"""The ASGI application: the provider's routes behind a gateway layer, plus `/_emulator/`.

The gateway (`Gateway`) does what the provider's front door does before any handler runs: it
stamps `Msh-Request-Id` and `Server-Timing`, logs the call, checks the Bearer key, applies
injected failures, and admits the request against concurrency and RPM. Handlers then validate
and, for chat, charge TPM/TPD. Unknown routes get the gateway's odd 404 body.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tools.moonshot_emulator import chat, control, files, limits, wire
from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.faults import DEFAULT_MESSAGES, Faults
from tools.moonshot_emulator.state import State

BALANCE = {
    "code": 0,
    "data": {"available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001},
    "scode": "0x0",
    "status": True,
}
MODEL_CREATED = 1709149158


def create_app(config: EmulatorConfig, state: State, faults: Faults) -> ASGIApp:
    """The whole emulator as one ASGI app, reading `config` on every request."""

    def handler(fn: Callable[[Request], Awaitable[Response] | Response]) -> Callable:
        async def endpoint(request: Request) -> Response:
            result = fn(request)
            return await result if isinstance(result, Awaitable) else result

        return endpoint

    def models(request: Request) -> Response:
        return wire.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": model_id,
                        "object": "model",
                        "created": MODEL_CREATED,
                        "owned_by": "moonshot",
                        "context_length": window,
                    }
                    for model_id, window in config.models.items()
                ],
            }
        )

    def file_id(request: Request) -> str:
        return request.path_params["file_id"]

    routes = [
        Route(
            "/v1/chat/completions",
            handler(lambda r: chat.chat_completions(r, config, state, faults)),
            methods=["POST"],
        ),
        Route(
            "/v1/tokenizers/estimate-token-count",
            handler(lambda r: chat.estimate_token_count(r, config)),
            methods=["POST"],
        ),
        Route("/v1/models", handler(models), methods=["GET"]),
        Route(
            "/v1/files",
            handler(lambda r: files.upload(r, config, state, faults)),
            methods=["POST"],
        ),
        Route("/v1/files", handler(lambda r: files.list_files(r, config, state)), methods=["GET"]),
        Route(
            "/v1/files/{file_id}",
            handler(lambda r: files.retrieve(file_id(r), config, state)),
            methods=["GET"],
        ),
        Route(
            "/v1/files/{file_id}",
            handler(lambda r: files.delete(file_id(r), state)),
            methods=["DELETE"],
        ),
        Route(
            "/v1/files/{file_id}/content",
            handler(lambda r: files.content(file_id(r), config, state)),
            methods=["GET"],
        ),
        Route(
            "/v1/users/me/balance",
            handler(lambda r: wire.json_response(BALANCE)),
            methods=["GET"],
        ),
        *control.routes(config, state, faults),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            return wire.gateway_not_found(
                request.method, request.url.path, request.headers.get("user-agent", "")
            )
        return wire.error_response(
            exc.status_code, "invalid_request_error", f"Invalid request: {exc.detail}"
        )

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Gateway(app, config, state, faults)


class Gateway:
    """Pure ASGI layer in front of the routes (see module docstring)."""

    def __init__(self, app: ASGIApp, config: EmulatorConfig, state: State, faults: Faults) -> None:
        self.app = app
        self.config = config
        self.state = state
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(control.PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        method = scope["method"]

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = round((time.perf_counter() - started) * 1000)
                message["headers"] = [
                    *message.get("headers", []),
                    (b"msh-request-id", request_id.encode()),
                    (b"server-timing", f"inner; dur={elapsed}".encode()),
                ]
                self.state.record_call(method, path, message["status"])
            await send(message)

        request = Request(scope)
        refusal = self._refuse(request, path)
        if refusal is not None:
            await refusal(scope, receive, stamped)
            return
        limited = self.config.limits_path(path)
        refused = self.state.admit(self.config, limited)
        if refused is not None:
            response = wire.error_response(429, "rate_limit_reached_error", refused)
            await response(scope, receive, stamped)
            return
        try:
            await self.app(scope, receive, stamped)
        finally:
            self.state.release(limited)

    def _refuse(self, request: Request, path: str) -> Response | None:
        """Unknown prefix, bad key or an injected failure: the response to send instead."""
        if not (path == "/v1" or path.startswith("/v1/")):
            return wire.gateway_not_found(
                request.method, path, request.headers.get("user-agent", "")
            )
        expected = f"Bearer {self.config.api_key}".encode()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return wire.error_response(
                401, "invalid_authentication_error", "Invalid Authentication"
            )
        failure = self.faults.take_failure(path)
        if failure is None:
            return None
        message = failure.message
        if message is None:
            if failure.error_type == "rate_limit_reached_error":
                message = limits.rpm_message(
                    self.config.org_id, self.config.ak_id, self.config.rpm or 3
                )
            else:
                message = DEFAULT_MESSAGES.get(failure.error_type, "Injected failure")
        return wire.error_response(failure.status, failure.error_type, message)
