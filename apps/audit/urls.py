from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("w/<slug:slug>/audit/", views.workspace_log, name="workspace"),
    path("w/<slug:slug>/audit/export.jsonl", views.workspace_export, name="workspace_export"),
]
