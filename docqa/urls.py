from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from apps.api.urls import api_urls
from apps.core.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("apps.accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("apps.chat.urls")),
    path("", include("apps.exports.urls")),
    path("", include("apps.sharing.urls")),
    path("", include("apps.audit.urls")),
    path("ops/", include("apps.ops.urls")),
    *api_urls,
    path("", include("apps.api.urls")),
    path("", include("apps.documents.urls")),
    path("", include("apps.workspaces.urls")),
]
