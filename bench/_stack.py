"""The pieces a benchmark stands up and takes down: a scratch database, child processes (the
provider emulator, the web server), and the Redis keys of its own admission namespace.

Everything runs on this machine over loopback or Unix sockets; each context manager removes what
it made, also when the benchmark fails half-way.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql

from docqa.processes import serve, stop_process

BASE_DIR = Path(__file__).resolve().parent.parent


def _admin_connect() -> psycopg.Connection[Any]:
    s = connections["default"].settings_dict
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _drop(name: str) -> None:
    with _admin_connect() as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


def database_url(s: Mapping[str, Any]) -> str:
    """A DATABASE_URL for a connection's settings (a socket directory is percent-encoded)."""
    host = quote(s["HOST"], safe="") if s["HOST"].startswith("/") else s["HOST"]
    port = f":{s['PORT']}" if s["PORT"] else ""
    password = f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{host}{port}/{s['NAME']}"


@contextlib.contextmanager
def bench_database(name: str) -> Iterator[str]:
    """Create and migrate ``name``, point this process at it, yield its URL; drop it after."""
    _drop(name)
    with _admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection = connections["default"]
    original = connection.settings_dict["NAME"]
    connection.close()
    settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield database_url(connection.settings_dict)
    finally:
        connection.close()
        settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = original
        _drop(name)


@contextlib.contextmanager
def emulator_process(
    *,
    api_key: str,
    args: Sequence[str] = (),
    module: str = "tools.moonshot_emulator",
) -> Iterator[str]:
    """``python -m tools.moonshot_emulator`` (or a wrapper of it with the same command line) on a
    free loopback port; yields the base URL it prints on its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", "--api-key", api_key, *args],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().decode().strip()
        if not base_url.startswith("http://"):
            raise RuntimeError("the emulator did not start")
        yield base_url
    finally:
        stop_process(proc)


def emulator_state(base_url: str) -> dict[str, Any]:
    return get_json(base_url.removesuffix("/v1") + "/_emulator/state")


def get_json(url: str) -> Any:
    return json.loads(get_bytes(url))


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback http)
        return response.read()


def post_json(url: str, payload: Any) -> None:
    """POST ``payload`` as JSON (the emulator's control plane); raises for an HTTP error."""
    request = urllib.request.Request(  # noqa: S310 (loopback http)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


@contextlib.contextmanager
def web_server(env: Mapping[str, str], *, log_name: str) -> Iterator[tuple[str, int]]:
    """One ``uvicorn docqa.asgi:application`` process, as ``make run`` starts it, with ``env``
    on top of this one's; yields its URL and pid once it answers."""
    quiet = ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    with serve(env, log_path=BASE_DIR / "var" / log_name, extra=quiet) as (url, proc):
        yield url, proc.pid


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def forget_namespace(namespace: str) -> None:
    """Delete the admission controller's keys of one namespace."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{{{namespace}}}:*"))
    if keys:
        client.delete(*keys)
    client.close()
