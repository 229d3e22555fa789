"""Upload through the real page in Chromium and watch the documents become ready live."""

from __future__ import annotations

import pytest

from apps.documents.models import Document, Status
from tests.browser import ARTIFACTS
from tests.samples import ELF_HEADER, make_docx, make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]


def test_upload_pdf_and_docx_and_see_them_ready_without_reloading(live_app, browser_page, tmp_path):
    page = browser_page
    pdf = tmp_path / "Quarterly report.pdf"
    pdf.write_bytes(make_pdf("Quarterly report", "Revenue grew 12%"))
    docx = tmp_path / "Team memo.docx"
    docx.write_bytes(make_docx("Memo to the team", "Documents are live."))
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(ELF_HEADER)

    page.goto(f"{live_app}/accounts/signup/")
    page.fill("input[name=email]", "browser@example.com")
    page.fill("input[name=display_name]", "Bea Browser")
    page.fill("input[name=password1]", "a long browser passphrase 91")
    page.fill("input[name=password2]", "a long browser passphrase 91")
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/signup/" not in url)

    page.click("nav.tabs >> text=Documents")
    page.wait_for_selector("[data-uploader]")
    assert page.locator("[data-empty-state]").is_visible()
    page.evaluate("window.__sameDocument = true")

    page.set_input_files("#id_file", [str(pdf), str(docx), str(fake)])

    page.locator(".upload-item.ok").nth(1).wait_for()
    refused = page.locator(".upload-item.error")
    refused.wait_for()
    assert "looks like an executable program" in refused.inner_text()
    ready = page.locator("tr[data-document-id] .status-ready")
    ready.nth(1).wait_for(timeout=60_000)
    assert ready.count() == 2
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("[data-empty-state]").count() == 0
    assert "Quarterly report.pdf" in page.inner_text("[data-documents]")
    assert set(Document.objects.values_list("status", flat=True)) == {Status.READY}

    page.screenshot(path=str(ARTIFACTS / "documents.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "documents-dark.png"), full_page=True)

    page.click("text=Quarterly report.pdf")
    page.wait_for_selector(".doc-text")
    assert "Revenue grew 12%" in page.inner_text(".doc-text")
    page.screenshot(path=str(ARTIFACTS / "document-detail.png"), full_page=True)
