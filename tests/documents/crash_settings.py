"""Worker settings for the poison-message test: reading a .log file kills the worker process.

The reader is swapped in each pool process after fork (``worker_process_init``), so production
code carries no test hook. The kill is SIGKILL, like the OOM killer: Celery sees the child vanish,
and with ``acks_late`` + ``reject_on_worker_lost`` puts the message back on the queue.
"""

import os
import signal

from celery.signals import worker_process_init

from tests.settings import *  # noqa: F403


@worker_process_init.connect
def _install_crashing_reader(**_kwargs):
    from apps.documents.extractors import local

    def crash(_file):
        os.kill(os.getpid(), signal.SIGKILL)

    local.READERS["log"] = ("local:crash", crash)
