"""Listing the provider's files: every file, whether the provider pages, and an end even when
it ignores `after`/`limit` (reference §10.4: the same full list on every request)."""

from __future__ import annotations

import pytest


def _upload(provider, n: int) -> set[str]:
    return {provider.upload_file(f"file-{i}.txt", b"bytes %d" % i).id for i in range(n)}


def _list_calls(emulator) -> int:
    return emulator.state.count(method="GET", path="/v1/files")


def test_a_provider_that_pages_by_default_is_read_to_the_end(provider, emulator):
    ids = _upload(provider, 7)
    emulator.config.list_page_size = 3  # 3 + 3 + 1, then an empty page
    assert {f.id for f in provider.list_files()} == ids
    assert _list_calls(emulator) == 4


@pytest.mark.parametrize("has_more", [False, True])
def test_a_provider_that_ignores_after_and_limit_still_ends(provider, emulator, has_more):
    ids = _upload(provider, 5)
    emulator.config.list_ignores_pagination = True
    emulator.config.list_has_more = has_more
    files = provider.list_files()
    assert sorted(f.id for f in files) == sorted(ids)  # each file once
    # The repeated page brings no new id: the walk stops there (or at has_more: false).
    assert _list_calls(emulator) == (1 if has_more else 2)


def test_an_empty_store_takes_one_call(provider, emulator):
    assert provider.list_files() == []
    assert _list_calls(emulator) == 1


def test_the_page_walk_is_bounded(provider, emulator, monkeypatch):
    """Even a provider inventing new ids forever cannot keep the walk going."""
    from tools.moonshot_emulator import files as emulator_files

    original = emulator_files.list_files
    counter = iter(range(10**6))

    def endless(request, config, state):
        state.add_file(
            emulator_files.StoredFile(
                id=f"endless{next(counter):013d}",
                filename="x.txt",
                bytes=1,
                purpose="file-extract",
                status="ok",
                content="x",
                created_at=0,
            )
        )
        return original(request, config, state)

    monkeypatch.setattr(emulator_files, "list_files", endless)
    emulator.config.list_ignores_pagination = True
    assert len(provider.list_files(max_pages=4)) >= 4
    assert _list_calls(emulator) == 4
