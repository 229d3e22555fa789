"""Worker settings for the delete-mid-extraction tests: the extraction stops at a chosen step
until the test opens a gate, so the test can delete the document at exactly that moment.

`DOCQA_TEST_PAUSE_AT`: "before_upload" (slot reserved, bytes not sent), "after_upload" (the
provider holds the file, its id not saved yet) or "content" (id saved, text not fetched).
`DOCQA_TEST_PAUSE_GATE` is a path: the worker creates `<gate>.reached` when it arrives and
waits (60 s at most) until `<gate>` exists; with `DOCQA_TEST_PAUSE_THEN=die` it then SIGKILLs
its own process instead of going on, like the OOM killer. Installed in each pool process after
fork, so production code carries no test hook.
"""

import os
import signal
import time
from pathlib import Path

from celery.signals import worker_process_init

from tests.settings import *  # noqa: F403


def _pause() -> None:
    gate = Path(os.environ["DOCQA_TEST_PAUSE_GATE"])
    Path(f"{gate}.reached").write_text("reached")
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.environ.get("DOCQA_TEST_PAUSE_THEN") == "die" and not Path(f"{gate}.died").exists():
        Path(f"{gate}.died").write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)


@worker_process_init.connect
def _install_pause(**_kwargs):
    from apps.moonshot.client import MoonshotClient

    step = os.environ.get("DOCQA_TEST_PAUSE_AT")
    upload, content = MoonshotClient.upload_file, MoonshotClient.file_content

    def paused_upload(self, filename, data, **kwargs):
        if step == "before_upload":
            _pause()
        remote = upload(self, filename, data, **kwargs)
        if step == "after_upload":
            _pause()
        return remote

    def paused_content(self, file_id):
        if step == "content":
            _pause()
        return content(self, file_id)

    MoonshotClient.upload_file = paused_upload
    MoonshotClient.file_content = paused_content
