"""The site-admin dashboard. Staff only: anyone else gets the login page or a 404, never a
figure. Thin: reads from selectors, writes through services, every write a CSRF-checked POST
that redirects back (so a reload never repeats it)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from apps.audit import views as audit_views
from apps.moonshot.models import Retention
from apps.workspaces.limits import usage_today
from apps.workspaces.models import Workspace

from . import selectors, services
from .forms import PolicyForm, WorkspaceLimitsForm

View = Callable[..., HttpResponseBase]


def staff_view(view: View) -> View:
    """Anonymous visitors go to the login page; signed-in non-staff get 404, like a page that
    does not exist, so the dashboard's existence is not confirmed to them."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _dashboard(
    request: HttpRequest, policy_form: PolicyForm | None = None, status: int = 200
) -> HttpResponse:
    store = selectors.file_store()
    workspaces, workspace_total = selectors.workspace_rows()
    context = {
        "store": store,
        "policy_form": policy_form or PolicyForm.for_policy(store.policy),
        "runs": selectors.recent_reconciles(),
        "rates": selectors.rate_limits(),
        "usage": selectors.chat_usage(),
        "workspaces": workspaces,
        "workspace_total": workspace_total,
        "failed": selectors.failed_documents(),
        "failed_total": selectors.failed_count(),
        "status_counts": selectors.status_counts(),
        "history_days": selectors.HISTORY_DAYS,
    }
    return render(request, "ops/dashboard.html", context, status=status)


@staff_view
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    return _dashboard(request)


def _back(anchor: str = "") -> HttpResponse:
    response = redirect("ops:dashboard")
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


@staff_view
@require_POST
def reconcile(request: HttpRequest) -> HttpResponse:
    try:
        services.request_reconcile(actor=request.user, request=request)
    except services.OpsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Reconcile queued. Its result appears below in a moment."))
    return _back("reconcile")


@staff_view
@require_POST
def delete_orphans(request: HttpRequest) -> HttpResponse:
    """Delete orphans the last reconcile reported (one, or all it kept), in a new sweep."""
    if request.POST.get("all") == "1":
        ids = selectors.kept_orphan_ids()
    else:
        ids = [i for i in request.POST.getlist("file") if i.isalnum()]
    if not ids:
        messages.error(request, _("Choose at least one orphan to delete."))
        return _back("reconcile")
    try:
        services.request_reconcile(delete_ids=ids, actor=request.user, request=request)
    except services.OpsError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            ngettext(
                "Deleting %(n)d orphan; the reconcile below shows when it is gone.",
                "Deleting %(n)d orphans; the reconcile below shows when they are gone.",
                len(ids),
            )
            % {"n": len(ids)},
        )
    return _back("reconcile")


@staff_view
@require_safe
def reconcile_runs(request: HttpRequest) -> HttpResponse:
    """The reconcile section alone, which the dashboard polls while a run is unfinished."""
    return render(request, "ops/_reconcile.html", {"runs": selectors.recent_reconciles()})


@staff_view
@require_POST
def evict(request: HttpRequest) -> HttpResponse:
    try:
        mode = services.EvictMode(request.POST.get("mode", ""))
    except ValueError:
        messages.error(request, _("Choose which remote copies to evict."))
        return _back("file-store")
    try:
        services.request_eviction(mode, actor=request.user, request=request)
    except services.OpsError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Eviction queued. Copies of documents being extracted right now are kept."),
        )
    return _back("file-store")


@staff_view
@require_POST
def retry(request: HttpRequest) -> HttpResponse:
    if request.POST.get("all") == "1":
        ids = services.all_failed_ids()
    else:
        ids = [int(i) for i in request.POST.getlist("document") if i.isdigit()]
    if not ids:
        messages.error(request, _("Select at least one failed document."))
        return _back("failed")
    queued = services.retry_failed_documents(ids, actor=request.user, request=request)
    messages.success(
        request,
        ngettext(
            "%(n)d document queued for extraction again.",
            "%(n)d documents queued for extraction again.",
            queued,
        )
        % {"n": queued},
    )
    return _back("failed")


@staff_view
@require_POST
def policy(request: HttpRequest) -> HttpResponse:
    form = PolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The retention policy was not saved; see the errors below."))
        return _dashboard(request, policy_form=form, status=400)
    try:
        saved = services.update_policy(
            retention=form.cleaned_data["retention"],
            keep_files=form.cleaned_data["keep_files"],
            keep_bytes=form.keep_bytes,
            actor=request.user,
            request=request,
        )
    except services.OpsError as error:
        messages.error(request, str(error))
        return _back("policy")
    messages.success(request, _("Retention policy saved."))
    kept = services.kept_copies()
    if saved.retention == Retention.DELETE and kept:
        messages.info(
            request,
            ngettext(
                "%(n)d remote copy kept earlier remains; “Evict beyond the policy” deletes it.",
                "%(n)d remote copies kept earlier remain; “Evict beyond the policy” deletes them.",
                kept,
            )
            % {"n": kept},
        )
    return _back("policy")


@staff_view
def workspace_limits(request: HttpRequest, workspace_id: int) -> HttpResponse:
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    if request.method == "POST":
        form = WorkspaceLimitsForm(request.POST)
        if form.is_valid():
            services.set_workspace_limits(
                workspace,
                max_documents=form.cleaned_data["max_documents"],
                max_bytes=form.max_bytes,
                max_tokens_per_day=form.cleaned_data["max_tokens_per_day"],
                actor=request.user,
                request=request,
            )
            messages.success(request, _("Limits of %(name)s saved.") % {"name": workspace.name})
            return _back("workspaces")
    elif request.method in ("GET", "HEAD"):
        form = WorkspaceLimitsForm.for_workspace(workspace)
    else:
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    return render(
        request,
        "ops/workspace_limits.html",
        {"workspace": workspace, "form": form, "usage": usage_today(workspace)},
        status=400 if form.is_bound else 200,
    )


@staff_view
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every workspace's events and the site's own (sign-ins, reconciles), with filters."""
    return audit_views.page(request, site=True, export_url=reverse("ops:audit_export"))


@staff_view
@require_safe
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    return audit_views.export(request, site=True, name="site")
