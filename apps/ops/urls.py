from django.urls import path

from . import views

app_name = "ops"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reconcile/", views.reconcile, name="reconcile"),
    path("reconcile/runs/", views.reconcile_runs, name="reconcile_runs"),
    path("orphans/delete/", views.delete_orphans, name="delete_orphans"),
    path("evict/", views.evict, name="evict"),
    path("documents/retry/", views.retry, name="retry"),
    path("policy/", views.policy, name="policy"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/export.jsonl", views.audit_export, name="audit_export"),
    path("workspaces/<int:workspace_id>/limits/", views.workspace_limits, name="workspace_limits"),
]
