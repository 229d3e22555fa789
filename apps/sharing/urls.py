from django.urls import path

from . import views

app_name = "sharing"

urlpatterns = [
    path("w/<slug:slug>/chat/<int:conversation_id>/share/", views.create, name="create"),
    path("w/<slug:slug>/shared/", views.links, name="list"),
    path("w/<slug:slug>/shared/<int:link_id>/revoke/", views.revoke, name="revoke"),
    path("s/<str:token>/", views.shared, name="view"),
]
