"""`make run`: the whole app under one supervisor.

Starts the project-local PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, runs the
release step once (docqa.release: migrations and the first admin), collects static files when
DJANGO_DEBUG is off (the manifest storage serves only collected files), then runs web (uvicorn,
ASGI; WEB_CONCURRENCY worker processes behind one port, default 1), a Celery worker and one
Celery beat under docqa.supervisor: a process that dies is restarted with backoff; one that
keeps dying right after it starts makes the whole stack stop with exit code 1. Ctrl-C (or
SIGTERM) stops every process it started, servers included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import environ

from docqa import local_services
from docqa.processes import web_command, worker_command
from docqa.supervisor import Supervisor

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
            "tools.moonshot_emulator",
            "--port",
            port,
            "--api-key",
            EMULATOR_KEY,
            "--chunk-delay",
            "0.02",
        ]
    }


LOCAL_OIDC_SECRET = "docqa-oidc-dev-secret"  # noqa: S105 (the local test provider's own client)


def _oidc_provider(env: dict[str, str], port: str) -> dict[str, list[str]]:
    """With DOCQA_LOCAL_OIDC=1 (`make run-oidc`), run the loopback OpenID Connect provider
    (tools/oidc_provider: a page of test identities) and sign in through it."""
    if os.environ.get("DOCQA_LOCAL_OIDC", "") not in ("1", "true", "yes"):
        return {}
    idp_port = os.environ.get("DOCQA_LOCAL_OIDC_PORT", "8766")
    env.update(
        DOCQA_OIDC_ISSUER=f"http://127.0.0.1:{idp_port}",
        DOCQA_OIDC_CLIENT_ID="docqa",
        DOCQA_OIDC_CLIENT_SECRET=LOCAL_OIDC_SECRET,
    )
    env.setdefault("DOCQA_OIDC_NAME", "Local test IdP")
    callback = "/accounts/oidc/sso/login/callback/"
    print(f"Single sign-on through the local test provider on port {idp_port}.", flush=True)
    argv = [PYTHON, "-m", "tools.oidc_provider", "--port", idp_port]
    for host in ("127.0.0.1", "localhost"):
        argv += ["--redirect-uri", f"http://{host}:{port}{callback}"]
    return {"oidc-provider": [*argv, "--client-secret", LOCAL_OIDC_SECRET]}


# The web server borrows database connections from a bounded pool (see DJANGO_DB_POOL_SIZE in
# settings); the Celery processes connect per use.
PROCESS_ENV = {"web": {"DJANGO_DB_POOL_SIZE": os.environ.get("DJANGO_DB_POOL_SIZE", "20")}}


def web_concurrency() -> int:
    """WEB_CONCURRENCY: how many web processes uvicorn runs behind the one port (default 1).

    Raises SystemExit with a clear message for anything but a whole number of at least 1."""
    value = os.environ.get("WEB_CONCURRENCY", "").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"WEB_CONCURRENCY must be a whole number of at least 1, not {value!r}.")
    return int(value)


def _processes(host: str, port: str, workers: int) -> dict[str, list[str]]:
    concurrency = os.environ.get("CELERY_CONCURRENCY", "2")
    return {
        # With workers > 1, uvicorn's own manager runs them behind the one port and starts a
        # worker again when it dies; the supervisor restarts the manager itself.
        "web": web_command(host, port, ["--limit-concurrency", "1000"], workers=workers),
        "worker": worker_command(concurrency, loglevel="INFO"),
        "beat": [  # exactly one: it enqueues the periodic sweeps
            PYTHON,
            "-m",
            "celery",
            "-A",
            "docqa",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            os.environ.get(
                "DOCQA_BEAT_SCHEDULE", str(local_services.VAR_DIR / "celerybeat-schedule")
            ),
        ],
    }


def _debug() -> bool:
    """DJANGO_DEBUG as the settings read it."""
    return environ.Env().bool("DJANGO_DEBUG", default=False)


def main() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    workers = web_concurrency()
    print("Starting PostgreSQL and Redis (project-local, data in var/) …", flush=True)
    service_env, started = local_services.ensure_services()
    env = {**os.environ, **service_env}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor: Supervisor | None = None
    exit_code = 0
    try:
        release = subprocess.run([PYTHON, "-m", "docqa.release"], env=env, cwd=BASE_DIR)
        if release.returncode != 0:
            print("The release step failed (see above); not starting the app.", flush=True)
            return 1
        if not _debug():
            # Without DEBUG, pages link hashed names from the collected manifest: without it
            # every page is a 500.
            _manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
        processes = {
            **_emulator(env),
            **_oidc_provider(env, port),
            **_processes(host, port, workers),
        }
        supervisor = Supervisor(
            {
                name: (argv, {**env, **PROCESS_ENV.get(name, {})})
                for name, argv in processes.items()
            },
            cwd=BASE_DIR,
        )
        supervisor.start()
        print(
            f"\n  DocQA is running at http://{host}:{port}/ with {workers} web process"
            f"{'es' if workers > 1 else ''}   (Ctrl-C stops everything)\n",
            flush=True,
        )
        exit_code = supervisor.run(lambda: stopping)
    finally:
        print("Stopping …", flush=True)
        if supervisor is not None:
            supervisor.stop()
        local_services.stop_started(started)
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
