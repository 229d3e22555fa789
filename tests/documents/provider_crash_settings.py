"""Worker settings for the provider kill tests: die once, at a chosen step, like the OOM killer.

`DOCQA_TEST_CRASH_AT` names the step ("content": after the upload was recorded, before the text
is fetched; "record": after the upload returned, before its id was saved). A marker file makes
the crash happen once, so the redelivered task runs to the end. The hook is installed in each
pool process after fork, so production code carries no test hook.
"""

import os
import signal
from pathlib import Path

from celery.signals import worker_process_init

from tests.settings import *  # noqa: F403

_MARKER = Path(os.environ.get("DOCQA_TEST_CRASH_MARKER", "/tmp/docqa-crash-marker"))


def _die_once() -> None:
    crashed = len(_MARKER.read_text()) if _MARKER.exists() else 0
    if crashed < int(os.environ.get("DOCQA_TEST_CRASH_TIMES", "1")):
        _MARKER.write_text("x" * (crashed + 1))
        os.kill(os.getpid(), signal.SIGKILL)


@worker_process_init.connect
def _install_crash(**_kwargs):
    from apps.moonshot import filestore
    from apps.moonshot.client import MoonshotClient

    step = os.environ.get("DOCQA_TEST_CRASH_AT")
    if step == "content":
        original_content = MoonshotClient.file_content

        def content_then_die(self, file_id):
            _die_once()
            return original_content(self, file_id)

        MoonshotClient.file_content = content_then_die
    elif step == "record":
        original_mark = filestore.mark_uploaded

        def mark_then_die(slot, remote_id):
            _die_once()
            return original_mark(slot, remote_id)

        filestore.mark_uploaded = mark_then_die
