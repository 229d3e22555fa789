"""Growing answers are re-rendered at most every HTML_EVERY_SECONDS, and all of them together
within a bounded share of the event loop, however many stream at once."""

from __future__ import annotations

import pytest

from apps.chat import streaming
from apps.chat.sse import sse_event

EVERY = streaming.HTML_EVERY_SECONDS


def _spend(renderer: streaming._Renderer, seconds: float) -> None:
    renderer.balance -= seconds  # as render() does with what a rendering took


def test_one_answer_renders_at_the_full_rate_and_not_faster():
    renderer = streaming._Renderer(clock=lambda: 0.0)
    assert not renderer.may_render(rendered_at=0.0, now=EVERY / 2)
    assert renderer.may_render(rendered_at=0.0, now=EVERY)


def test_renderings_due_at_one_moment_take_at_most_the_burst_of_loop_time():
    renderer = streaming._Renderer(clock=lambda: 0.0)
    now, allowed = 10.0, 0
    for _ in range(500):  # 500 answers all due in the same instant, 1 ms to render each
        if renderer.may_render(rendered_at=now - 1.0, now=now):
            allowed += 1
            _spend(renderer, 0.001)
    burst_renderings = streaming.HTML_BURST_SECONDS / 0.001
    assert allowed == pytest.approx(burst_renderings, abs=1)


def test_over_time_rendering_takes_the_loop_share():
    renderer = streaming._Renderer(clock=lambda: 0.0)
    spent, now = 0.0, 0.0
    for _ in range(20_000):  # 500 answers, one piece of text each every 100 ms, for 4 s
        now += 0.1 / 500
        if renderer.may_render(rendered_at=now - 1.0, now=now):
            _spend(renderer, 0.001)
            spent += 0.001
    assert spent / now == pytest.approx(streaming.HTML_LOOP_SHARE, rel=0.1)


def test_an_answer_unrendered_for_the_longest_wait_may_overdraw_the_bucket_once():
    overdue = streaming.HTML_MAX_SECONDS
    renderer = streaming._Renderer(clock=lambda: overdue)  # no refill at this instant
    renderer.balance = 0.0
    assert not renderer.may_render(rendered_at=overdue - EVERY, now=overdue)  # empty: waits
    assert renderer.may_render(rendered_at=0.0, now=overdue)  # waited the longest: renders
    _spend(renderer, streaming.HTML_BURST_SECONDS)  # a slow rendering: down to -burst
    assert not renderer.may_render(rendered_at=0.0, now=overdue)


def test_a_rendering_draws_what_it_cost_from_the_bucket():
    renderer = streaming._Renderer()
    before = renderer.balance
    html = renderer.render("**bold** " * 2000, {})
    assert html.startswith("<p><strong>bold</strong>")
    assert renderer.balance < before


def test_a_json_event_is_one_data_line_even_with_line_breaks_in_the_text():
    frame = sse_event("delta", {"text": "one\ntwo\r\nthree"})
    assert frame == 'event: delta\ndata: {"text": "one\\ntwo\\r\\nthree"}\n\n'
    assert sse_event("note", "a\nb") == "event: note\ndata: a\ndata: b\n\n"
