"""The provider file-store ledger: atomic reservation, release once, eviction, reconcile."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.documents.models import Status
from apps.moonshot import filestore
from apps.moonshot.models import FileStoreQuota, RemoteFile, RemoteFileState
from apps.moonshot.reconcile import reconcile
from tests.ops.seed import document


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_exceed_the_cap(settings):
    settings.MOONSHOT_FILE_SLOTS = 10
    settings.MOONSHOT_FILE_BYTES = 10**9
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(25)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            for j in range(2):
                slot = filestore.reserve(f"document:{index}-{j}", 1000, "a.pdf")
                with lock:
                    results.append(slot is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 10
    assert RemoteFile.objects.filter(state=RemoteFileState.RESERVED).count() == 10
    quota = FileStoreQuota.objects.get(pk=1)
    assert (quota.files_used, quota.bytes_used) == (10, 10_000)


@pytest.mark.django_db
def test_bytes_cap_and_release_exactly_once(settings):
    settings.MOONSHOT_FILE_BYTES = 1500
    first = filestore.reserve("document:1", 1000, "a.pdf")
    assert filestore.reserve("document:2", 1000, "b.pdf") is None  # would exceed the bytes cap
    assert filestore.reserve("document:1", 1000, "a.pdf").pk == first.pk  # re-entrant
    assert filestore.release(first) is True
    assert filestore.release(first) is False
    quota = FileStoreQuota.objects.get(pk=1)
    assert (quota.files_used, quota.bytes_used) == (0, 0)
    assert filestore.reserve("document:2", 1000, "b.pdf") is not None


@pytest.mark.django_db
def test_remote_names_map_back_and_keep_the_extension():
    slot = filestore.reserve("document:9", 10, "Quarterly Report.PDF")
    assert slot.remote_name.startswith("docqa-") and slot.remote_name.endswith(".pdf")


@pytest.mark.django_db
def test_evict_least_recently_used_first(provider, emulator):
    slots = []
    for i in range(4):
        slot = filestore.reserve(f"document:{i}", 10, "x.txt")
        remote = provider.upload_file(slot.remote_name, b"text %d" % i)
        filestore.mark_uploaded(slot, remote.id)
        slots.append(slot)
    # Use order: 2, 0, 3, 1 (oldest first) -> the two least recently used are 2 and 0.
    base = timezone.now() - timedelta(hours=1)
    for rank, i in enumerate([2, 0, 3, 1]):
        RemoteFile.objects.filter(pk=slots[i].pk).update(
            last_used_at=base + timedelta(minutes=rank)
        )
    evicted = filestore.evict_beyond(provider, keep_files=2, keep_bytes=10**9)
    assert evicted == 2
    remaining = {f.id for f in provider.list_files()}
    assert remaining == {slots[3].remote_id, slots[1].remote_id}
    assert FileStoreQuota.objects.get(pk=1).files_used == 2


@pytest.mark.django_db
def test_reconcile_deletes_orphans_and_repairs_vanished(provider, emulator, settings, team):
    settings.MOONSHOT_RECONCILE_GRACE_SECONDS = 0
    busy = [document(team, f"busy-{i}.txt", 5, status=Status.EXTRACTING) for i in range(3)]
    orphan = provider.upload_file("left-by-another-tool.txt", b"orphan")
    known = filestore.reserve(f"document:{busy[0].pk}", 5, "k.txt")
    filestore.mark_uploaded(known, provider.upload_file(known.remote_name, b"known").id)
    vanished = filestore.reserve(f"document:{busy[1].pk}", 5, "v.txt")
    filestore.mark_uploaded(vanished, provider.upload_file(vanished.remote_name, b"gone!").id)
    provider.delete_file(vanished.remote_id)  # deleted behind the ledger's back
    crashed = filestore.reserve(f"document:{busy[2].pk}", 5, "c.txt")  # id never saved
    crashed_remote = provider.upload_file(crashed.remote_name, b"crash")
    unowned = filestore.reserve("document:999999", 5, "u.txt")  # its document is gone
    filestore.mark_uploaded(unowned, provider.upload_file(unowned.remote_name, b"nobody").id)
    time.sleep(1.1)  # created_at has one-second resolution

    run = reconcile(provider, trigger="test")

    assert (run.orphans_found, run.orphans_deleted, run.vanished_repaired) == (1, 1, 1)
    assert run.copies_released == 1
    remote_ids = {f.id for f in provider.list_files()}
    assert remote_ids == {known.remote_id, crashed_remote.id}
    crashed.refresh_from_db()
    vanished.refresh_from_db()
    assert crashed.state == RemoteFileState.UPLOADED and crashed.remote_id == crashed_remote.id
    assert vanished.state == RemoteFileState.DELETED
    assert FileStoreQuota.objects.get(pk=1).files_used == 2
    assert run.finished_at is not None and not run.error
    assert run.findings["adopted"] == [crashed.remote_name]
    assert run.findings["released"] == [unowned.remote_name]
    [found] = run.findings["orphans"]
    assert (found["id"], found["action"], found["deleted"]) == (orphan.id, "deleted_old", True)


@pytest.mark.django_db
def test_reconcile_deletes_a_second_upload_under_a_held_name_at_once(provider, emulator, team):
    """A killed run's upload can land after its re-run uploaded again under the same unique
    name: the ledger holds the re-run's id, and the late copy goes at once (no grace)."""
    busy = document(team, "busy.txt", 5, status=Status.EXTRACTING)
    slot = filestore.reserve(f"document:{busy.pk}", 5, "b.txt")
    filestore.mark_uploaded(slot, provider.upload_file(slot.remote_name, b"again").id)
    late = provider.upload_file(slot.remote_name, b"first")

    run = reconcile(provider, trigger="test")

    assert {f.id for f in provider.list_files()} == {slot.remote_id}
    [found] = run.findings["orphans"]
    assert (found["id"], found["action"], found["deleted"]) == (late.id, "deleted_duplicate", True)
    slot.refresh_from_db()
    assert slot.state == RemoteFileState.UPLOADED
