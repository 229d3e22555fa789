"""The HTTP control plane under `/_emulator/`, for processes that cannot reach the Python
objects (a Celery worker, a benchmark, `make run`).

    GET  /_emulator/state    counts, files, recent calls, faults, config (the key masked)
    POST /_emulator/faults   {"fail_next": {"n": 2, "status": 500, "error_type": "server_error"},
                              "fail_extraction_for": {"substring": "scan", "reason": "bad scan"},
                              "drop_stream_after": 3, "answer_override": "…", "clear": true}
    POST /_emulator/config   {"rpm": 3, "chunk_delay": 0.05, …}  (field names of EmulatorConfig)
    POST /_emulator/reset    forget files, calls, windows and faults

No key is needed, so it answers only loopback clients (403 otherwise). Bad JSON or an unknown
name is a 400 that says what was wrong, and nothing is changed by a rejected config request.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tools.moonshot_emulator import wire
from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.faults import Faults
from tools.moonshot_emulator.state import State

PREFIX = "/_emulator/"
_LOOPBACK = ("127.", "::1", "localhost")


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host.startswith(_LOOPBACK)


def _problem(status: int, message: str) -> Response:
    return wire.json_response({"error": message}, status)


def routes(config: EmulatorConfig, state: State, faults: Faults) -> list[Route]:
    def guarded(
        fn: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not _loopback(request):
                return _problem(403, "the control plane answers loopback clients only")
            return await fn(request)

        return endpoint

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise ValueError("the body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def snapshot() -> dict[str, Any]:
        return {**state.snapshot(), "faults": faults.snapshot(), "config": config.as_dict()}

    async def get_state(request: Request) -> Response:
        return wire.json_response(snapshot())

    async def set_faults(request: Request) -> Response:
        try:
            faults.apply(await json_body(request))
        except (TypeError, ValueError) as exc:
            return _problem(400, str(exc))
        return wire.json_response(faults.snapshot())

    async def set_config(request: Request) -> Response:
        try:
            changes = await json_body(request)
            trial = copy.deepcopy(config)
            trial.update(**changes)  # validate everything before touching the live config
        except (TypeError, ValueError) as exc:
            return _problem(400, str(exc))
        config.update(**changes)
        return wire.json_response(config.as_dict())

    async def reset(request: Request) -> Response:
        state.reset()
        faults.clear()
        return wire.json_response(snapshot())

    return [
        Route(PREFIX + "state", guarded(get_state), methods=["GET"]),
        Route(PREFIX + "faults", guarded(set_faults), methods=["POST"]),
        Route(PREFIX + "config", guarded(set_config), methods=["POST"]),
        Route(PREFIX + "reset", guarded(reset), methods=["POST"]),
    ]
