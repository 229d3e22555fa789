from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path(
        "w/<slug:slug>/chat/<int:conversation_id>/export.<str:fmt>",
        views.conversation,
        name="conversation",
    ),
    path("w/<slug:slug>/exports/", views.workspace, name="workspace"),
    path("w/<slug:slug>/exports/start/", views.start, name="start"),
    path("w/<slug:slug>/exports/<int:export_id>/status/", views.status, name="status"),
    path("w/<slug:slug>/exports/<int:export_id>/download/", views.download, name="download"),
]
