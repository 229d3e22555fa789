"""The emulator's answer derivation and extraction, through HTTP and as pure functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.moonshot.emulator_support import fresh, running_emulator, sdk
from tests.samples import make_docx
from tools.moonshot_emulator import EmulatorServer
from tools.moonshot_emulator.answer import NO_ANSWER_EN, NO_ANSWER_ZH, derive_answer, features
from tools.moonshot_emulator.extract import decode_text, extract, sniff

ENGLISH = (
    "The Orion project started in March 2021. Its budget is 4.5 million euros! "
    "The project lead is Dr. Maria Keller, who reports to the board. "
    "Field tests take place in Norway?"
)
CHINESE = (
    "本公司成立于二〇〇八年。总部设在深圳市南山区！公司共有员工三千二百人。年度营收为十五亿元？"
)
PERSONA = "你是 Kimi，由 Moonshot AI 提供的人工智能助手，你更擅长中文和英文的对话。"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    yield from running_emulator()


@pytest.fixture
def emu(server: EmulatorServer) -> EmulatorServer:
    return fresh(server)


def ask_uploaded(emu: EmulatorServer, filename: str, data: bytes, text: str) -> str:
    """Upload, fetch the content, put it in a system message as the provider recommends."""
    client = sdk(emu)
    file_id = client.files.create(file=(filename, data), purpose="file-extract").id
    content = client.files.content(file_id).text
    reply = client.chat.completions.create(
        model="moonshot-v1-32k",
        messages=[
            {"role": "system", "content": content},
            {"role": "system", "content": PERSONA},
            {"role": "user", "content": text},
        ],
    )
    return reply.choices[0].message.content


def test_english_document_answer_quotes_the_best_sentence(emu: EmulatorServer) -> None:
    answer = ask_uploaded(emu, "orion.txt", ENGLISH.encode(), "Who is the lead of the project?")
    assert answer == (
        'According to the documents: "The project lead is Dr. Maria Keller, who reports to '
        'the board." [orion.txt]'
    )
    assert "4.5 million euros" in ask_uploaded(emu, "orion.txt", ENGLISH.encode(), "What budget?")


def test_chinese_document_answer_quotes_the_best_sentence(emu: EmulatorServer) -> None:
    data = make_docx(CHINESE)
    answer = ask_uploaded(emu, "公司简介.docx", data, "公司的总部设在哪里？")
    assert answer == "根据文档：“总部设在深圳市南山区！” [公司简介.docx]"
    assert "三千二百人" in ask_uploaded(emu, "公司简介.docx", data, "公司有多少员工？")


def test_no_overlap_says_the_documents_do_not_answer(emu: EmulatorServer) -> None:
    assert ask_uploaded(emu, "orion.txt", ENGLISH.encode(), "Favourite pizza?") == NO_ANSWER_EN
    assert ask_uploaded(emu, "orion.txt", ENGLISH.encode(), "天气怎么样？") == NO_ANSWER_ZH


def test_answer_override_forces_the_answer(emu: EmulatorServer) -> None:
    emu.faults.answer_override = "forced " * 50
    assert ask_uploaded(emu, "orion.txt", ENGLISH.encode(), "Who leads?") == "forced " * 50
    emu.faults.answer_override = None
    assert "Maria Keller" in ask_uploaded(emu, "orion.txt", ENGLISH.encode(), "Who leads?")


def test_document_markers_attribute_sentences() -> None:
    system = (
        "Document: alpha.pdf\nAlpha ships rockets to Mars.\n\n"
        "[beta.md]\nBeta sells bicycles in Lyon.\n"
        'More text <document name="gamma.txt">Gamma brews coffee in Oslo.</document>'
    )

    def ask(question: str) -> str:
        return derive_answer(
            [
                {"role": "system", "content": system},
                {"role": "system", "content": "You are a helpful assistant for rockets."},
                {"role": "user", "content": question},
            ]
        )

    assert ask("Who ships rockets?") == (
        'According to the documents: "Alpha ships rockets to Mars." [alpha.pdf]'
    )
    assert ask("where are bicycles sold?").endswith('"Beta sells bicycles in Lyon." [beta.md]')
    assert ask("Who brews coffee?").endswith("[gamma.txt]")
    # Without any named document, every system sentence competes and no citation is added.
    plain = derive_answer(
        [
            {"role": "system", "content": "Cats sleep sixteen hours a day."},
            {"role": "user", "content": [{"type": "text", "text": "How long do cats sleep?"}]},
        ]
    )
    assert plain == 'According to the documents: "Cats sleep sixteen hours a day."'


def test_features_are_cjk_bigrams_and_lowercased_words() -> None:
    assert features("Revenue GREW in Hangzhou") == {"revenue", "grew", "hangzhou"}
    assert features("深圳市") == {"深圳", "圳市"}
    assert features("What is the") == set()


def test_sniffing_and_decoding() -> None:
    assert sniff(b"%PDF-1.7") == "application/pdf"
    assert sniff(b"PK\x03\x04rest") == "application/zip"
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff(b"<!DOCTYPE html><p>x") == "text/html"
    assert sniff("普通文本".encode("gb18030")) == "text/plain"
    assert sniff(b"\x00\x01\x02") == "application/octet-stream"
    assert decode_text("\ufeffBOM text".encode()) == "BOM text"
    assert decode_text("中文".encode("utf-16")) == "中文"
    assert decode_text("简体中文".encode("gb18030")) == "简体中文"
    zip_not_office = b"PK\x05\x06" + b"\x00" * 18  # an empty zip archive
    assert extract("x.zip", zip_not_office).error == "unsupported zip archive"
    ole = extract("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert ole.status == "error" and "legacy" in ole.error


def test_content_json_embedded_in_a_larger_message_is_unwrapped() -> None:
    def body(text: str, name: str) -> str:
        return (
            f'{{"content":"{text}","file_type":"text/plain","filename":"{name}",'
            '"title":"","type":"file"}'
        )

    system = "Reference files:\n" + body("Warranty: three years.\\nReturns take 30 days.", "w.txt")
    system += "\n" + body("Shipping is free.", "s.txt")
    messages = [{"role": "system", "content": system}]
    ask = [{"role": "user", "content": "How long do returns take?"}]
    assert derive_answer(messages + ask) == (
        'According to the documents: "Returns take 30 days." [w.txt]'
    )
    ask = [{"role": "user", "content": "Is shipping free?"}]
    assert derive_answer(messages + ask).endswith('"Shipping is free." [s.txt]')
