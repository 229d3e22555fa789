"""Growing answers are re-rendered less often when many stream at once, never more often."""

from __future__ import annotations

import pytest

from apps.chat import streaming
from apps.chat.sse import sse_event


def test_few_answers_render_at_the_full_rate_and_many_share_a_tenth_of_the_loop():
    renderer = streaming._Renderer()
    renderer.mean_seconds = 0.001
    renderer.open = 1
    assert renderer.interval() == streaming.HTML_EVERY_SECONDS
    renderer.open = 200  # 200 renderings of 1 ms within 10 % of the loop: one each 2 s
    assert renderer.interval() == pytest.approx(2.0)
    renderer.mean_seconds = 0.05  # a pathological rendering: formatting still follows
    assert renderer.interval() == streaming.HTML_MAX_SECONDS


def test_the_mean_rendering_time_follows_what_rendering_costs():
    renderer = streaming._Renderer()
    before = renderer.mean_seconds
    html = renderer.render("**bold** " * 2000, {})
    assert html.startswith("<p><strong>bold</strong>")
    assert renderer.mean_seconds != before


def test_a_json_event_is_one_data_line_even_with_line_breaks_in_the_text():
    frame = sse_event("delta", {"text": "one\ntwo\r\nthree"})
    assert frame == 'event: delta\ndata: {"text": "one\\ntwo\\r\\nthree"}\n\n'
    assert sse_event("note", "a\nb") == "event: note\ndata: a\ndata: b\n\n"
