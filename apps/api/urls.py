from django.urls import path

from . import views
from .openai_compat import api as api_openai
from .v1 import api as api_v1

app_name = "api"

urlpatterns = [
    path("w/<slug:slug>/settings/keys/", views.create, name="create_key"),
    path("w/<slug:slug>/settings/keys/<int:key_id>/revoke/", views.revoke, name="revoke_key"),
]

# Mounted at the root by docqa/urls.py (their own namespaces: "api-1", "openai").
api_urls = [
    path("api/v1/", api_v1.urls),
    path("api/openai/v1/", api_openai.urls),
]
