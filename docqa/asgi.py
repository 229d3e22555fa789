"""ASGI entry point (uvicorn). Streaming chat answers need ASGI: see apps/chat."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docqa.settings")

application = get_asgi_application()
