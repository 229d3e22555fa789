from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from apps.accounts import sso_views
from apps.api.urls import api_urls
from apps.core.views import healthz

urlpatterns = [
    path("admin/login/", sso_views.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/", include("apps.accounts.urls")),
    # allauth's OpenID Connect login and callback, under the names allauth reverses, behind a
    # guard that turns an unreachable provider into a page (apps/accounts/sso_views.py).
    path(
        "accounts/oidc/<str:provider_id>/login/",
        sso_views.oidc_login,
        name="openid_connect_login",
    ),
    path(
        "accounts/oidc/<str:provider_id>/login/callback/",
        sso_views.oidc_callback,
        name="openid_connect_callback",
    ),
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
