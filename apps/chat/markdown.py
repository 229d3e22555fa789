"""Model output → safe HTML.

Answers are written by a model that has read untrusted documents, so they are untrusted too
(reference §D6): a document can ask the model to emit `<script>`, event handlers, `javascript:`
links, or a Markdown image whose URL carries data out of the page the moment it is displayed.
Two layers: markdown-it-py with raw HTML off (so HTML in the answer is shown as text) and images
rendered as plain links, then nh3 with a tag/attribute/scheme allow-list as the backstop for
anything the parser lets through. Rendering must also cope with half an answer while it streams:
CommonMark has no syntax errors, so an unclosed fence becomes a code block to the end and a half
table stays a paragraph until its delimiter row is complete.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from apps.chat.prompts import citation_label

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},  # class: see ALLOWED_CLASSES
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
    "code": {"class"},
}
ALLOWED_CLASSES = {"a": {"citation", "image-link"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"
_CODE_LANGUAGE = re.compile(r"language-[A-Za-z0-9_+#.-]{1,32}")
# [Name] or 【Name】; several names may share one pair of brackets, separated by , ; 、 ，；
_CITATION = re.compile(r"\[([^\[\]\n]{1,600})\]|【([^【】\n]{1,600})】")
_CITATION_SPLIT = re.compile(r"\s*[,;、，；]\s*")


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.add_render_rule("image", _render_image)
    md.core.ruler.push("citations", _link_citations)
    return md


def render_markdown(text: str, citation_urls: Mapping[str, str]) -> str:
    """Render an answer (or the part streamed so far) to sanitised HTML.

    `citation_urls` maps a document's citation label (see `prompts.citation_label`) to the URL
    of its page; `[label]` in the answer becomes a link with class "citation".
    """
    env = {"citations": {citation_label(k): v for k, v in citation_urls.items()}}
    html = _parser().render(text, env)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        allowed_classes=ALLOWED_CLASSES,
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Keep only a code block's `language-…` class; nh3 cannot express a class pattern."""
    if tag == "code" and attribute == "class":
        return value if _CODE_LANGUAGE.fullmatch(value) else None
    return value


def _render_image(self, tokens: Sequence[Token], idx: int, options: Mapping, env: Mapping) -> str:
    """An image is never loaded: it becomes a link labelled with its alt text (or its URL)."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    label = escapeHtml(self.renderInlineAsText(token.children or [], options, env) or src)
    if not src:
        return label
    return f'<a class="image-link" href="{escapeHtml(src)}">{label}</a>'


def _link_citations(state: StateCore) -> None:
    """Turn `[Known name]` in plain text into links; unknown names stay as text."""
    urls: Mapping[str, str] = state.env.get("citations") or {}
    if not urls:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        inside_link = 0
        for token in block.children:
            if token.type == "link_open":
                inside_link += 1
            elif token.type == "link_close":
                inside_link -= 1
            if token.type == "text" and not inside_link:
                children.extend(_split_citations(token, urls))
            else:
                children.append(token)
        block.children = children


def _split_citations(token: Token, urls: Mapping[str, str]) -> list[Token]:
    content = token.content
    out: list[Token] = []
    position = 0
    for match in _CITATION.finditer(content):
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        names = [citation_label(n) for n in _CITATION_SPLIT.split(inner.strip())]
        if inner.strip() in urls:
            names = [inner.strip()]
        if not names or not all(n in urls for n in names):
            continue
        if match.start() > position:
            out.append(_text(content[position : match.start()]))
        opening, closing = ("[", "]") if match.group(1) is not None else ("【", "】")
        out.append(_text(opening))
        for n, name in enumerate(names):
            if n:
                out.append(_text(", "))
            link = Token("link_open", "a", 1, attrs={"href": urls[name], "class": "citation"})
            out.extend([link, _text(name), Token("link_close", "a", -1)])
        out.append(_text(closing))
        position = match.end()
    if not out:
        return [token]
    if position < len(content):
        out.append(_text(content[position:]))
    return out


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)
