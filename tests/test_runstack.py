"""`python -m docqa.runstack` (what `make run` starts), for real: with DJANGO_DEBUG=0 it serves
pages and their static files (collected at start), and when its web process is SIGKILLed the
supervisor starts it again and /healthz answers once more. It runs on the test database and
the test Redis database; the real settings module, not the test one, so static files are
served exactly as in production."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from docqa.processes import free_port
from tests.conftest import test_database_url as database_url

BASE_DIR = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.celery_worker


def _get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def _wait(condition, timeout: float, what: str, log: Path) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} within {timeout} s; log:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)
    return time.monotonic() - started


def _child_pid(parent: int, word: str) -> int:
    """The pid of `parent`'s child process whose command line has `word` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and word in argv:
            return int(entry.name)
    raise AssertionError(f"no child of {parent} runs {word}")


def test_runstack_without_debug_serves_pages_and_restarts_a_killed_web_process(
    transactional_db, tmp_path
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "docqa.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "runstack-test-secret-" + "k" * 40,
        "DJANGO_SECURE": "0",  # plain http on loopback
        "DOCQA_STATIC_ROOT": str(tmp_path / "static"),
        "DOCQA_BEAT_SCHEDULE": str(tmp_path / "celerybeat-schedule"),
        "DOCQA_ADMIN_PASSWORD": "runstack-admin-password-42",
        "CELERY_CONCURRENCY": "1",
        "MOONSHOT_API_KEY": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log = tmp_path / "runstack.log"
    with open(log, "wb") as out:
        stack = subprocess.Popen(
            [sys.executable, "-m", "docqa.runstack"],
            env=env,
            cwd=BASE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        healthy = lambda: _get(f"{base}/healthz")[0] == 200  # noqa: E731
        _wait(healthy, 60, "runstack did not answer /healthz", log)

        # DEBUG off: a page renders (its static links come from the collected manifest)...
        status, body = _get(f"{base}/accounts/login/")
        assert status == 200, body[:500]
        assets = re.findall(r'(/static/[^"]+\.[0-9a-f]{12}\.(?:css|js))"', body.decode())
        assert assets, "no hashed static file linked"
        # ...and so do its static files.
        for asset in assets:
            assert _get(base + asset)[0] == 200, asset

        # SIGKILL the web process: the supervisor notices, starts it again, /healthz is back.
        web_pid = _child_pid(stack.pid, "uvicorn")
        os.killpg(web_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait(lambda: not healthy(), 5, "the killed web process still answered", log)
        _wait(healthy, 30, "the web process was not restarted", log)
        back_after = time.monotonic() - killed_at
        new_web = _child_pid(stack.pid, "uvicorn")
        assert new_web != web_pid
        text = log.read_text()
        assert "web was killed by SIGKILL" in text and "restarting it in 1 s" in text
        assert "web restarted" in text
        assert stack.poll() is None  # the supervisor kept running
        assert back_after < 15, back_after
        print(f"web back {back_after:.1f} s after SIGKILL")

        # The same for the Celery worker: killed, started again, answering pings.
        from docqa.celery import app

        worker_pid = _child_pid(stack.pid, "worker")
        os.killpg(worker_pid, signal.SIGKILL)
        _wait(lambda: "worker restarted" in log.read_text(), 10, "worker not restarted", log)
        _wait(lambda: bool(app.control.ping(timeout=0.5)), 30, "the worker did not answer", log)
        assert _child_pid(stack.pid, "worker") != worker_pid
        text = log.read_text()
        assert "worker was killed by SIGKILL" in text
        assert env["DOCQA_ADMIN_PASSWORD"] not in text and env["DJANGO_SECRET_KEY"] not in text
    finally:
        if stack.poll() is None:
            stack.send_signal(signal.SIGTERM)
        try:
            code = stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    assert code == 0, log.read_text()[-4000:]
    with pytest.raises(ProcessLookupError):
        os.kill(new_web, 0)


def test_runstack_starts_nothing_when_the_release_step_fails(django_db_setup, django_db_blocker):
    """A release that cannot migrate (here: its database does not exist) stops `make run` with
    a clear line and exit code 1, before any web, worker or beat process starts."""
    with django_db_blocker.unblock():
        missing = database_url().rsplit("/", 1)[0] + "/docqa_no_such_database"
    env = {
        **os.environ,
        "DATABASE_URL": missing,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "docqa.runstack"],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The release step failed (see above); not starting the app." in result.stdout
    assert "DocQA is running" not in result.stdout
    assert "[supervisor]" not in result.stdout
