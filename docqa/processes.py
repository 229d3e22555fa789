"""The app's processes as children: how `make run`, the tests and the benchmarks start the
web server (`uvicorn docqa.asgi:application`) and a Celery worker, wait until they answer,
and stop them.

What can fail: `serve` and `work` raise RuntimeError when the process exits during start-up
or does not answer (/healthz, a Celery ping) within `start_timeout` seconds; its output is
in `log_path`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def web_command(
    host: str, port: int | str, extra: Sequence[str] = (), *, workers: int = 1
) -> list[str]:
    """uvicorn on the ASGI app, in `workers` processes (each its own event loop) behind the one
    port. `--workers` is always given: uvicorn would otherwise read WEB_CONCURRENCY itself.

    Proxy headers off: uvicorn would otherwise take the client address from X-Forwarded-For of
    any loopback peer, which a client sets at will; Django reads that header itself, only when
    told a proxy is in front (apps/core/client_address.py)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "docqa.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--timeout-graceful-shutdown",
        "5",
        "--no-proxy-headers",
        "--workers",
        str(workers),
        *extra,
    ]


def worker_command(
    concurrency: int | str, *, loglevel: str, extra: Sequence[str] = ()
) -> list[str]:
    """A Celery worker of the app (prefork, `concurrency` children)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "docqa",
        "worker",
        "--loglevel",
        loglevel,
        "--concurrency",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        *extra,
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group, SIGKILL it if it has not gone after `timeout` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def serve(
    env: Mapping[str, str],
    *,
    log_path: Path,
    extra: Sequence[str] = (),
    start_timeout: float = 30,
    workers: int = 1,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the web server (`workers` processes) on a free loopback port with `env` on top of
    this process's; yield its URL and process once /healthz answers, and stop it (its whole
    group) afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = web_command("127.0.0.1", port, extra, workers=workers)
    with _child(command, env, log_path) as proc:
        _wait_until(lambda: _healthy(url), proc, "uvicorn", log_path, start_timeout)
        yield url, proc


@contextlib.contextmanager
def work(
    env: Mapping[str, str],
    *,
    log_path: Path,
    concurrency: int,
    name: str,
    loglevel: str = "INFO",
    start_timeout: float = 30,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a Celery worker named `name` (`-n`) with `env` on top of this process's, without
    heartbeats (tests and benchmarks kill workers on purpose); yield it once it answers a
    ping. Tasks already queued are purged first: they belong to an earlier run."""
    from docqa.celery import app

    app.control.purge()
    extra = ["--without-heartbeat", "-n", name]
    with _child(worker_command(concurrency, loglevel=loglevel, extra=extra), env, log_path) as proc:
        pinged = lambda: bool(app.control.ping(timeout=0.5))  # noqa: E731
        _wait_until(pinged, proc, "celery worker", log_path, start_timeout)
        yield proc


@contextlib.contextmanager
def _child(
    command: list[str], env: Mapping[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop_process(proc)


def _healthy(url: str) -> bool:
    try:
        # S310: the URL is always http://127.0.0.1:<port>, built above; never input
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def _wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    what: str,
    log_path: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up; see {log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within {timeout:.0f} s; see {log_path}")
        time.sleep(0.1)
