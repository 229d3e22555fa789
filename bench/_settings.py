"""Settings for the Celery workers a benchmark starts: the real settings, with the admission
controller's Redis keys under the benchmark's own namespace so a run starts from an empty
window and leaves nothing behind for `make run` or the tests.

The limits come from the environment as in production (MOONSHOT_RPM, MOONSHOT_CONCURRENCY, …).
"""

import os

from docqa.settings import *  # noqa: F403

MOONSHOT_ADMISSION_NAMESPACE = os.environ.get("DOCQA_BENCH_ADMISSION_NAMESPACE", "bench")
