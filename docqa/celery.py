"""The Celery application. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docqa.settings")

app = Celery("docqa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _one_beat(**kwargs: object) -> None:
    """Exactly one beat schedules: wait for the beat lock before the first tick."""
    from docqa.beat_lock import hold_beat_lock

    hold_beat_lock(**kwargs)
