"""Driving the emulator from another process: the /_emulator/ control plane and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from tests.moonshot.emulator_support import AUTH, fresh, running_emulator
from tools.moonshot_emulator import EmulatorConfig, EmulatorServer
from tools.moonshot_emulator.control import _loopback

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    yield from running_emulator()


@pytest.fixture
def emu(server: EmulatorServer) -> EmulatorServer:
    return fresh(server)


def test_control_plane_sets_config_faults_and_resets(emu: EmulatorServer) -> None:
    control = httpx.Client(base_url=f"{emu.url}/_emulator")
    api = httpx.Client(base_url=emu.base_url, headers=AUTH)

    assert control.post("/config", json={"rpm": 2, "chunk_delay": 0.01}).status_code == 200
    assert (emu.config.rpm, emu.config.chunk_delay) == (2, 0.01)
    bad = control.post("/config", json={"rpm": 5, "rmp": 3})
    assert bad.status_code == 400 and "rmp" in bad.json()["error"]
    assert emu.config.rpm == 2  # a rejected request changes nothing
    assert control.post("/config", json={"rpm": "many"}).status_code == 400

    faults = {
        "fail_next": {"n": 1, "status": 503, "error_type": "server_unavailable", "message": ""},
        "fail_extraction_for": {"substring": "scan", "reason": "bad scan"},
        "answer_override": "forced",
    }
    assert control.post("/faults", json=faults).status_code == 200
    assert control.post("/faults", json={"explode": True}).status_code == 400
    assert api.get("/models").status_code == 503
    reply = api.post("/chat/completions", json={"model": "moonshot-v1-8k", "messages": MESSAGES})
    assert reply.json()["choices"][0]["message"]["content"] == "forced"
    # rpm 2: the injected 503 never entered the window, the chat did.
    assert api.get("/models").status_code == 200
    assert api.get("/models").status_code == 429

    state = control.get("/state").json()
    assert state["calls_by_route"]["GET /v1/models"] == {"503": 1, "200": 1, "429": 1}
    assert state["rate_limited_count"] == 1
    assert state["config"]["rpm"] == 2 and state["config"]["api_key"] == "***"
    assert state["faults"]["fail_extraction_for"] == {"scan": "bad scan"}

    reset = control.post("/reset").json()
    assert reset["call_count"] == 0 and reset["faults"]["answer_override"] is None
    assert emu.state.calls == [] and emu.faults.answer_override is None


def test_control_plane_answers_loopback_only() -> None:
    def request_from(host: str) -> Request:
        return Request({"type": "http", "client": (host, 5000), "headers": []})

    assert _loopback(request_from("127.0.0.1")) and _loopback(request_from("::1"))
    assert not _loopback(request_from("10.1.2.3"))


def test_config_update_validates_names_and_types() -> None:
    config = EmulatorConfig()
    config.update(rpm=None, tpm=100, limited_prefixes=["/v1/chat/"], models={"m": 10})
    assert (config.rpm, config.tpm, config.limited_prefixes) == (None, 100, ("/v1/chat/",))
    assert config.limits_path("/v1/chat/completions") and not config.limits_path("/v1/files")
    for bad in ({"rpm": 0}, {"chunk_delay": -1}, {"models": {"m": "big"}}, {"api_key": 3}):
        with pytest.raises(ValueError):  # noqa: PT011
            config.update(**bad)


def test_cli_serves_and_prints_its_base_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.moonshot_emulator", "--port", "0", "--rpm", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
            for _ in range(20):  # the URL is printed just before uvicorn starts serving
                try:
                    first = api.get("/models")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert first.status_code == 200
            assert api.get("/models").status_code == 200
            assert api.get("/models").status_code == 429  # --rpm 2 took effect
        state = httpx.get(base_url.removesuffix("/v1") + "/_emulator/state").json()
        assert state["rate_limited_count"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # a graceful, clean exit


def test_the_package_imports_without_django() -> None:
    code = (
        "import sys, tools.moonshot_emulator\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)
