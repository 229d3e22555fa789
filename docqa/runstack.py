"""`make run`: the whole app under one supervisor.

Starts the project-local PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, migrates,
makes sure an admin account exists, then runs web (uvicorn, ASGI), a Celery worker and Celery beat.
Ctrl-C (or SIGTERM) stops every process it started, servers included; if any process dies the
others are stopped too, so a half-running app never looks healthy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from docqa import local_services
from docqa.processes import web_command, worker_command

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], env=env, check=True)


EMULATOR_KEY = "sk-local-emulator"  # the emulator's own key, not a secret


def _emulator(env: dict[str, str]) -> dict[str, list[str]]:
    """With DOCQA_EMULATOR=1, run the local Moonshot emulator and point the app at it."""
    if os.environ.get("DOCQA_EMULATOR", "") not in ("1", "true", "yes"):
        return {}
    port = os.environ.get("DOCQA_EMULATOR_PORT", "8765")
    env["MOONSHOT_API_KEY"] = EMULATOR_KEY
    env["MOONSHOT_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    print(f"Using the local Moonshot emulator on port {port} (no real key needed).", flush=True)
    return {
        "emulator": [
            PYTHON,
            "-m",
            "apps.moonshot.emulator",
            "--port",
            port,
            "--api-key",
            EMULATOR_KEY,
            "--chunk-delay",
            "0.02",
        ]
    }


# The web server borrows database connections from a bounded pool (see DJANGO_DB_POOL_SIZE in
# settings); the Celery processes connect per use.
PROCESS_ENV = {"web": {"DJANGO_DB_POOL_SIZE": os.environ.get("DJANGO_DB_POOL_SIZE", "20")}}


def _processes(host: str, port: str) -> dict[str, list[str]]:
    concurrency = os.environ.get("CELERY_CONCURRENCY", "2")
    return {
        "web": web_command(host, port, ["--limit-concurrency", "1000"]),
        "worker": worker_command(concurrency, loglevel="INFO"),
        "beat": [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "docqa",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(local_services.VAR_DIR / "celerybeat-schedule"),
        ],
    }


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    print("Starting PostgreSQL and Redis (project-local, data in var/) …", flush=True)
    service_env, started = local_services.ensure_services()
    env = {**os.environ, **service_env}
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_code = 0
    try:
        _manage("migrate", "--noinput", env=env)
        _manage("ensure_admin", env=env)
        for name, argv in {**_emulator(env), **_processes(host, port)}.items():
            # Own process group: the terminal's Ctrl-C reaches only us, and we stop children
            # in order instead of all of them racing.
            child_env = {**env, **PROCESS_ENV.get(name, {})}
            children[name] = subprocess.Popen(
                argv, env=child_env, cwd=BASE_DIR, start_new_session=True
            )
        print(
            f"\n  DocQA is running at http://{host}:{port}/   (Ctrl-C stops everything)\n",
            flush=True,
        )
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(
                        f"{name} exited with code {proc.returncode}; stopping the rest.", flush=True
                    )
                    exit_code = 1
                    stopping = True
            time.sleep(0.5)
    finally:
        print("Stopping …", flush=True)
        _stop(children)
        local_services.stop_started(started)
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
