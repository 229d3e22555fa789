"""Audit log pages: a workspace's events for its admins; ``page`` and ``export`` are shared with
the site admins' page (apps.ops.views), which shows every workspace's.

Thin: access through ``workspace_view`` (non-members 404, members below admin 403), reads
through the selectors. The JSON-lines export takes the page's filters, so it holds exactly
what the page lists, and an invalid filter refuses the export rather than widen it.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from apps.workspaces.access import WorkspaceRequest, workspace_view
from apps.workspaces.models import Role

from . import jsonl, selectors
from .forms import AuditFilterForm

PAGE_SIZE = 50


def page(request: HttpRequest, *, site: bool, export_url: str) -> HttpResponse:
    workspace = None if site else getattr(request, "workspace", None)
    form = AuditFilterForm(request.GET or None, site=site)
    form.is_valid()
    filters = form.filters()
    events = selectors.events(workspace=workspace, filters=filters)
    paginator = Paginator(events, PAGE_SIZE)
    current = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": current,
        "site": site,
        "filtered": filters.active,
        "query": query.urlencode(),
        "export_url": export_url,
    }
    return render(request, "audit/log.html", context)


def export(request: HttpRequest, *, site: bool, name: str) -> HttpResponse | StreamingHttpResponse:
    workspace = None if site else getattr(request, "workspace", None)
    form = AuditFilterForm(request.GET or None, site=site)
    if request.GET and not form.is_valid():
        errors = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponse(
            _("The filters are not valid: %(errors)s") % {"errors": errors},
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    events = selectors.events(workspace=workspace, filters=form.filters())
    response = StreamingHttpResponse(jsonl.lines(events), content_type="application/x-ndjson")
    filename = f"{name}-audit-{timezone.localtime():%Y%m%d-%H%M}.jsonl"
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@workspace_view(min_role=Role.ADMIN)
@require_safe
def workspace_log(request: WorkspaceRequest) -> HttpResponse:
    url = reverse("audit:workspace_export", args=[request.workspace.slug])
    return page(request, site=False, export_url=url)


@workspace_view(min_role=Role.ADMIN)
@require_safe
def workspace_export(request: WorkspaceRequest) -> HttpResponse | StreamingHttpResponse:
    return export(request, site=False, name=request.workspace.slug)
