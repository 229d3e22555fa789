"""The REST API for programs, under /api/v1/, built on django-ninja.

Why django-ninja: request and response shapes are pydantic schemas checked on the way in and
out; the OpenAPI schema (/api/v1/openapi.json) and an interactive docs page (/api/v1/docs) come
with it; it runs sync and async views side by side (the ask route is async, so an answer
streams on the event loop like the browser's); and it is small, one dependency on pydantic,
where DRF + drf-spectacular is two large frameworks for the same.

Every route needs `Authorization: Bearer <key>`; the key decides the workspace, so any id of
another workspace's object is a 404; /ops is for keys of site admins only. Failures are
`{"code", "message"}` (apps.api.errors).
"""

from __future__ import annotations

from ninja import NinjaAPI

from .. import errors
from ..auth import KeyAuth
from . import conversations, documents, ops, usage

api = NinjaAPI(
    title="DocQA API",
    version="1",
    description="Upload documents and ask questions about them in one workspace.",
    auth=KeyAuth(),
    urls_namespace="api-1",
)
errors.install(api)
api.add_router("/documents", documents.router)
api.add_router("/conversations", conversations.router)
api.add_router("/usage", usage.router)
api.add_router("/ops", ops.router)
