"""Text made storable (apps.documents.textclean)."""

from __future__ import annotations

import json

import pytest

from apps.core.textclean import clean_text
from apps.documents.models import ExtractedText
from apps.documents.textclean import clean_content


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain text\twith tab\r\nand lines", "plain text\twith tab\r\nand lines"),
        ("N\x00U\x00L", "NUL"),
        ("a\x01b\x08c\x0bd\x0ce\x1bf\x1fg", "a b c d e f g"),
        ("pair \ud83d\ude00 joined", "pair \U0001f600 joined"),
        ("lone \ud800 high, lone \udfff low", "lone \ufffd high, lone \ufffd low"),
        ("\x00\x00", ""),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean
    clean.encode("utf-8")  # strict: storable in PostgreSQL as UTF-8


def test_clean_text_returns_clean_text_unchanged():
    text = "中文 and emoji \U0001f600\n"
    assert clean_text(text) is text


def test_clean_content_cleans_the_json_values_and_keeps_a_clean_body_byte_for_byte():
    raw = json.dumps(
        {"content": "x\x00y \ud800", "file_type": "application/pdf", "filename": "a.pdf"},
        separators=(",", ":"),
    )  # ensure_ascii: \u0000 and \ud800 are escapes in the body
    cleaned = clean_content(raw)
    assert json.loads(cleaned)["content"] == "xy \ufffd"
    assert "\\u0000" not in cleaned and "\\ud800" not in cleaned
    good = '{"content":"fine","file_type":"text/plain","filename":"b.txt","title":"","type":"file"}'
    assert clean_content(good) is good
    assert clean_content("not json \x00 \ud800") == "not json  \ufffd"


def test_cleaned_text_is_storable_in_postgres(db):
    """What used to raise psycopg.DataError (NUL) or UnicodeEncodeError (surrogate)."""
    row = ExtractedText.objects.create(
        sha256="0" * 64,
        content=clean_content('{"content":"a\\u0000b\\ud800"}'),
        text=clean_text("a\x00b\ud800"),
        extractor="test",
    )
    row.refresh_from_db()
    assert row.text == "ab\ufffd"
