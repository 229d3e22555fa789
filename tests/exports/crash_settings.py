"""Worker settings for the killed-export test: the first export run anywhere kills its process.

Swapped in each pool process after fork (``worker_process_init``), so production code carries
no test hook. The kill is SIGKILL, like the OOM killer; ``acks_late`` + ``reject_on_worker_lost``
put the message back, and the next run must finish the export. A marker file beside the test
media makes it happen once across processes (the test removes it first).
"""

import os
import signal

from celery.signals import worker_process_init

from tests.settings import *  # noqa: F403

CRASH_MARKER = MEDIA_ROOT / "export-crashed-once"  # noqa: F405


@worker_process_init.connect
def _install_crashing_archive(**_kwargs):
    from apps.exports import archive

    original = archive.write_zip

    def crash_once(*args, **kwargs):
        if not CRASH_MARKER.exists():
            CRASH_MARKER.parent.mkdir(parents=True, exist_ok=True)
            CRASH_MARKER.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    archive.write_zip = crash_once
