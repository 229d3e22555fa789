"""/api/v1/ops: the dashboard's figures for keys of site admins; a 404 for any other key."""

from __future__ import annotations

import pytest

from apps.documents.models import Document, Status
from tests.chat.conftest import ready_document

from .conftest import ApiClient, make_key

ROUTES = ("/api/v1/ops/usage", "/api/v1/ops/rate-limits", "/api/v1/ops/file-store")


@pytest.fixture
def staff_api(team, owner) -> ApiClient:
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    return ApiClient(make_key(team))


def test_a_site_admins_key_reads_the_dashboard_figures(staff_api, other_team):
    failed = ready_document(other_team, "broken.pdf", "x")
    Document.objects.filter(pk=failed.pk).update(status=Status.FAILED, failure_reason="boom")
    for path in ROUTES:
        assert staff_api.get(path).status_code == 200, path
    usage = staff_api.get("/api/v1/ops/usage?days=3").json()
    assert len(usage["by_day"]) == 3 and "totals" in usage
    documents = staff_api.get("/api/v1/ops/documents/failed").json()
    assert documents["count"] == 1 and documents["items"][0]["workspace"] == other_team.slug
    assert staff_api.get("/api/v1/ops/usage?days=0").status_code == 422


def test_other_keys_get_404_from_ops(api, viewer_api):
    for client in (api, viewer_api):
        for path in (*ROUTES, "/api/v1/ops/documents/failed"):
            response = client.get(path)
            assert response.status_code == 404 and response.json()["code"] == "not_found"
