"""The operations dashboard: who may see it, what it shows, and its actions."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from apps.documents.models import Document, Status
from apps.moonshot import filestore
from apps.moonshot.admission import get_controller
from apps.moonshot.models import (
    FileStorePolicy,
    ReconcileRun,
    RemoteFile,
    RemoteFileState,
    Retention,
)
from apps.ops import selectors, services
from apps.workspaces.models import Workspace
from tests.conftest import running_celery_worker
from tests.test_workspace_access import login

from .seed import FAILED_NAME, SECRET_WORKSPACE, document, seed_site

GETS = ["/ops/", "/ops/workspaces/{ws}/limits/", "/ops/audit/", "/ops/audit/export.jsonl"]
POSTS = ["/ops/reconcile/", "/ops/evict/", "/ops/documents/retry/", "/ops/policy/"]
LEAKS = [SECRET_WORKSPACE, FAILED_NAME, "12,345", "Reconcile runs", "Operations dashboard"]


def page(client: Client, url: str = "/ops/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode().replace("\xa0", " ")


@pytest.fixture
def site(team):
    return seed_site(team)


# --- access -------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("url", GETS + POSTS)
def test_anonymous_visitors_are_sent_to_log_in(site, url):
    url = url.format(ws=site.team.pk)
    for response in (Client().get(url), Client().post(url, {"mode": "all", "all": "1"})):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", GETS + POSTS)
def test_signed_in_non_staff_get_404_and_no_figures(site, member, url):
    client = login(member)
    url = url.format(ws=site.team.pk)
    for response in (client.get(url), client.post(url, {"mode": "all", "all": "1"})):
        assert response.status_code == 404
        body = response.content.decode()
        assert not [leak for leak in LEAKS if leak in body]
    assert Document.objects.filter(status=Status.FAILED).count() == 2  # nothing was retried


@pytest.mark.django_db
def test_an_inactive_staff_account_gets_nothing(site):
    client = login(site.staff)
    type(site.staff).objects.filter(pk=site.staff.pk).update(is_active=False)
    assert client.get("/ops/").status_code in {302, 404}


# --- figures ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_staff_see_ledger_workspaces_failures_and_the_last_reconcile(site, member):
    get_controller().record_rate_limited("tpm")
    body = page(login(site.staff))

    assert "3 / 1,000" in body  # files in the ledger (the deleted row holds no slot)
    assert "2.9 MB / 10.0 GB" in body
    meters = body[body.index("data-file-meters") : body.index("Uploaded copies")]
    assert "Files at the provider" not in meters  # no provider key: only the ledger is known
    assert "Delete after extraction" in body  # the policy in force
    assert ">4</td>" in body and ">7.0 MB</td>" in body  # the last reconcile's row
    assert SECRET_WORKSPACE in body and "Research Team" in body
    assert "12,345" in body  # text tokens of the team's documents
    assert "3 / 20" in body and "3.0 MB / 50.0 MB" in body and "0 / 100,000" in body
    assert FAILED_NAME in body and "password-protected" in body
    assert "data-total-429>1<" in body


@pytest.mark.django_db
def test_with_a_provider_key_the_provider_counts_show(site, settings):
    settings.MOONSHOT_API_KEY = "sk-configured-for-this-test"
    body = page(login(site.staff))
    assert "Files at the provider" in body and "7 / 1,000" in body
    assert "7.0 MB / 10.0 GB" in body


@pytest.mark.django_db
def test_the_user_menu_links_staff_to_the_dashboard(site, member):
    assert 'href="/ops/"' in page(login(site.staff), f"/w/{site.secret.slug}/")
    assert 'href="/ops/"' not in login(member).get(f"/w/{site.team.slug}/").content.decode()


@pytest.mark.django_db
def test_rate_limit_history_per_day(site):
    controller = get_controller()
    controller.record_rate_limited("rpm")
    controller.record_rate_limited("rpm")
    report = selectors.rate_limits()
    assert len(report.days) == 30 and report.days[-1].rate_limited == {"rpm": 2}
    assert report.total_rate_limited == 2 and report.busiest == 2
    assert "rpm 2" in page(login(site.staff))


@pytest.mark.django_db
def test_an_unreachable_redis_is_reported_not_fatal(site, monkeypatch):
    import redis

    def down(*args, **kwargs):
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(selectors, "get_controller", down)
    assert "Redis could not be reached." in page(login(site.staff))


# --- actions ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_bulk_retry_queues_the_selected_failed_documents(site, django_capture_on_commit_callbacks):
    client = login(site.staff)
    first, second = site.failed
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/ops/documents/retry/", {"document": [first.pk, site.ready.pk]}, follow=True
        )
    assert "1 document queued for extraction again." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    site.ready.refresh_from_db()
    assert (first.status, first.attempts, first.failure_reason) == (Status.QUEUED, 0, "")
    assert second.status == Status.FAILED
    assert site.ready.status == Status.READY  # only failed documents are retried here
    assert len(callbacks) == 1  # one extraction task, sent on commit

    client.post("/ops/documents/retry/", {"all": "1"})
    second.refresh_from_db()
    assert second.status == Status.QUEUED


@pytest.mark.django_db
def test_retry_without_a_selection_says_so(site):
    response = login(site.staff).post("/ops/documents/retry/", {}, follow=True)
    assert "Select at least one failed document." in response.content.decode()


@pytest.mark.django_db
def test_policy_edit(site):
    client = login(site.staff)
    response = client.post(
        "/ops/policy/", {"retention": "keep", "keep_files": "120", "keep_megabytes": "2048"}
    )
    assert response.status_code == 302
    policy = FileStorePolicy.current()
    assert (policy.retention, policy.keep_files, policy.keep_bytes) == (
        Retention.KEEP,
        120,
        2048 * 1024**2,
    )
    assert "Keep up to 120 files / 2.0 GB" in page(client)

    refused = client.post(
        "/ops/policy/", {"retention": "keep", "keep_files": "5000", "keep_megabytes": "1"}
    )
    assert refused.status_code == 400
    assert "less than or equal to 980" in refused.content.decode()
    assert FileStorePolicy.current().keep_files == 120

    response = client.post(
        "/ops/policy/",
        {"retention": "delete", "keep_files": "0", "keep_megabytes": "0"},
        follow=True,
    )
    assert "3 remote copies kept earlier remain" in response.content.decode()


@pytest.mark.django_db
def test_workspace_limits_edit(site):
    client = login(site.staff)
    url = f"/ops/workspaces/{site.team.pk}/limits/"
    assert 'value="20"' in page(client, url)
    response = client.post(
        url, {"max_documents": "5", "max_megabytes": "", "max_tokens_per_day": "777"}
    )
    assert response.status_code == 302
    site.team.refresh_from_db()
    assert (site.team.max_documents, site.team.max_bytes, site.team.max_tokens_per_day) == (
        5,
        None,
        777,
    )
    assert client.post(url, {"max_documents": "-1"}).status_code == 400
    assert client.get("/ops/workspaces/999999/limits/").status_code == 404


@pytest.mark.django_db
def test_provider_actions_need_a_key(site):
    client = login(site.staff)
    for url, data in (("/ops/reconcile/", {}), ("/ops/evict/", {"mode": "all"})):
        response = client.post(url, data, follow=True)
        assert "No Moonshot API key is configured" in response.content.decode()
    assert "disabled>Reconcile now" in page(client)


@pytest.mark.django_db
def test_reconcile_is_not_queued_while_one_runs(site, settings):
    settings.MOONSHOT_API_KEY = "sk-configured-for-this-test"
    ReconcileRun.objects.create(trigger="schedule")  # started, not finished
    response = login(site.staff).post("/ops/reconcile/", follow=True)
    assert "A reconcile is running now" in response.content.decode()
    assert "Running" in response.content.decode()


@pytest.mark.django_db
def test_evict_service_spares_copies_in_use_and_keeps_what_the_policy_allows(
    team, provider, emulator
):
    busy = document(team, "busy.pdf", 10, status=Status.EXTRACTING)
    slots = []
    for owner in ("document:old", f"document:{busy.pk}", "document:new"):
        slot = filestore.reserve(owner, 10, "x.txt")
        filestore.mark_uploaded(slot, provider.upload_file(slot.remote_name, b"0123456789").id)
        slots.append(slot)
    _old, in_use, new = slots
    policy = FileStorePolicy.current()
    policy.retention, policy.keep_files, policy.keep_bytes = Retention.KEEP, 2, 10**9
    policy.save()

    assert services.evict_remote_copies(provider, services.EvictMode.POLICY) == 1
    assert {f.id for f in provider.list_files()} == {in_use.remote_id, new.remote_id}

    assert services.evict_remote_copies(provider, services.EvictMode.ALL) == 1
    assert {f.id for f in provider.list_files()} == {in_use.remote_id}
    in_use.refresh_from_db()
    assert in_use.state == RemoteFileState.UPLOADED


def _wait(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.celery_worker
def test_reconcile_now_deletes_an_orphan_and_shows_the_result(
    provider_settings, transactional_db, provider, emulator, team, settings, monkeypatch
):
    site = seed_site(team)
    RemoteFile.objects.filter(state=RemoteFileState.UPLOADED).update(state=RemoteFileState.DELETED)
    filestore.recount()
    settings.MOONSHOT_RECONCILE_GRACE_SECONDS = 0
    monkeypatch.setenv("MOONSHOT_RECONCILE_GRACE_SECONDS", "0")  # and in the worker
    stray = provider.upload_file("left-by-another-tool.txt", b"stray bytes")
    client = login(site.staff)

    with running_celery_worker():
        response = client.post("/ops/reconcile/", follow=True)
        assert "Reconcile queued." in response.content.decode()
        again = client.post("/ops/reconcile/", follow=True).content.decode()
        assert "A reconcile was requested moments ago" in again or "is running now" in again
        _wait(
            lambda: ReconcileRun.objects.filter(trigger="admin", finished_at__isnull=False).exists()
        )

    run = ReconcileRun.objects.get(trigger="admin")
    assert (run.orphans_deleted, run.remote_count, run.error) == (1, 1, "")
    assert stray.id not in {f.id for f in provider.list_files()}
    body = page(client)
    row = body[body.index("data-reconcile-runs") :]
    row = row[: row.index("</tr>", row.index("<tbody>"))]
    assert ">admin</td>" in row and ">1</td>" in row and "Done" in row


@pytest.mark.celery_worker
def test_evict_all_through_the_worker(
    provider_settings, transactional_db, provider, emulator, team
):
    site = seed_site(team)
    RemoteFile.objects.filter(state=RemoteFileState.UPLOADED).update(state=RemoteFileState.DELETED)
    for i in range(2):
        slot = filestore.reserve(f"document:kept-{i}", 10, "kept.txt")
        filestore.mark_uploaded(slot, provider.upload_file(slot.remote_name, b"kept copy").id)
    filestore.recount()
    client = login(site.staff)

    with running_celery_worker():
        response = client.post("/ops/evict/", {"mode": "all"}, follow=True)
        assert "Eviction queued." in response.content.decode()
        _wait(lambda: not RemoteFile.objects.filter(state=RemoteFileState.UPLOADED).exists())

    assert provider.list_files() == []
    assert "data-uploaded-copies>0<" in page(client)
    assert Workspace.objects.count() >= 2


@pytest.mark.django_db
def test_dashboard_and_limits_page_render_in_simplified_chinese(site):
    client = login(site.staff)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/ops/"})
    body = page(client)
    assert "运维" in body and "服务商文件存储" in body and "立即对账" in body
    assert "重试全部 2 个失败的文档" in body
    assert "保存上限" in page(client, f"/ops/workspaces/{site.team.pk}/limits/")
