"""`python -m docqa.release`: the steps a deploy runs once, before any web, worker or beat starts.

It applies migrations (`migrate --noinput`) and makes sure an admin account exists
(`ensure_admin`). docker compose runs it as the one-shot `release` service the app services wait
for; `make run` (docqa.runstack) runs it once before starting its processes. Web processes no
longer migrate, so N web replicas start without N concurrent `migrate` runs. Translations need
no step here: the compiled .mo files are committed (`make messages` writes them and a test
checks they match the .po files), and static files are collected into the image at build time
(or by runstack on its one host).

Several release jobs may still start at once (two hosts deploying, a compose `up` racing a
manual run): the steps run under one PostgreSQL advisory lock, so a second run waits for the
first, then finds nothing to migrate and an admin already there, and succeeds. The lock is held
by a connection of its own, so nothing the steps do to theirs can drop it; it ends with that
session, also when the process is killed.

What can fail: the database unreachable, or a migration failing. The error is printed and the
exit code is non-zero, so compose does not start the app on a half-migrated database.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

# Any fixed 64-bit key, the same in every release run (the bytes of "dq:relea").
RELEASE_LOCK_KEY = int.from_bytes(b"dq:relea", "big")


@contextlib.contextmanager
def release_lock() -> Iterator[None]:
    """Hold the release advisory lock (session level) on a connection of its own."""
    from django.db import DEFAULT_DB_ALIAS, connections

    lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELEASE_LOCK_KEY])
            row = cursor.fetchone()
            if not (row and row[0]):
                _say("another release run holds the lock; waiting for it to finish …")
                cursor.execute("SELECT pg_advisory_lock(%s)", [RELEASE_LOCK_KEY])
        yield
    finally:
        lock_connection.close()  # the session ends, and the lock with it


def run_release() -> None:
    """Migrate and ensure the first admin, under the release lock."""
    from django.core.management import call_command

    with release_lock():
        _say("applying migrations …")
        call_command("migrate", "--noinput", verbosity=1)
        _say("making sure an admin account exists …")
        call_command("ensure_admin")
    _say("done.")


def _say(line: str) -> None:
    print(f"[release] {line}", flush=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docqa.settings")
    import django

    django.setup()
    run_release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
