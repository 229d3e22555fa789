"""ASGI entry point (uvicorn). Streaming chat answers need ASGI: see apps/chat."""

import os

from django.core.asgi import get_asgi_application
from django.urls import get_resolver

from apps.core.gc_tuning import tune_for_serving

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docqa.settings")

application = get_asgi_application()
_views = get_resolver().url_patterns  # import every view module now, not in the first requests
tune_for_serving()
