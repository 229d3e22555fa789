"""SSE framing and the relay: progressive delivery, heartbeats, and every way a stream ends."""

from __future__ import annotations

import asyncio
import json

import pytest

from apps.chat.sse import (
    RelayError,
    RelayOutcome,
    RelayStatus,
    relay,
    sse_comment,
    sse_delta,
    sse_event,
)


def parse_sse(text: str) -> list[tuple[str, str]]:
    """A minimal WHATWG event-stream parser: (event, data) per dispatched event."""
    events = []
    event, data = "message", []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data:
                events.append((event, "\n".join(data)))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    return events


def test_dict_data_is_one_compact_json_line():
    frame = sse_event("delta", {"text": "第一行\n第二行 </script>"})
    assert frame.startswith("event: delta\ndata: {") and frame.endswith("}\n\n")
    assert frame.count("\n") == 3  # the newline inside the string is escaped by JSON
    [(event, data)] = parse_sse(frame)
    assert event == "delta" and json.loads(data) == {"text": "第一行\n第二行 </script>"}


@pytest.mark.parametrize(
    "text", ["", "plain", "第一行\n第二行", 'quote " back\\slash', "</script>\u2028\u0000\t", "😀"]
)
def test_the_delta_fast_path_is_byte_for_byte_the_general_frame(text):
    assert sse_delta(text) == sse_event("delta", {"text": text})
    [(event, data)] = parse_sse(sse_delta(text))
    assert event == "delta" and json.loads(data) == {"text": text}


def test_multi_line_string_data_is_framed_line_by_line():
    text = "line one\nline two\r\nline three\r\n\nafter a blank line"
    frame = sse_event("html", text)
    assert frame == (
        "event: html\ndata: line one\ndata: line two\ndata: line three\ndata: \n"
        "data: after a blank line\n\n"
    )
    assert parse_sse(frame) == [("html", text.replace("\r\n", "\n"))]


def test_event_names_cannot_break_the_framing():
    with pytest.raises(ValueError, match="one non-empty line"):
        sse_event("delta\ndata: injected", {})
    with pytest.raises(ValueError, match="one non-empty line"):
        sse_event("", {})


def test_comments_are_ignored_by_parsers():
    assert sse_comment("ping") == ": ping\n\n"
    assert sse_comment("a\nb") == ": a\n: b\n\n"
    assert parse_sse(sse_comment("x\ny") + sse_event("done", {})) == [("done", "{}")]


class Recorder:
    """Collects on_finish outcomes and what the pump saw."""

    def __init__(self) -> None:
        self.outcomes: list[RelayOutcome] = []
        self.pump_closed = asyncio.Event()

    async def on_finish(self, outcome: RelayOutcome) -> None:
        self.outcomes.append(outcome)


def test_relay_yields_events_as_they_arrive_then_completes():
    async def main() -> None:
        rec = Recorder()
        release = asyncio.Event()

        async def pump(queue: asyncio.Queue[str]) -> None:
            await queue.put(sse_event("delta", {"text": "Hel"}))
            await release.wait()
            await queue.put(sse_event("delta", {"text": "lo"}))

        stream = relay(pump, on_finish=rec.on_finish)
        assert await anext(stream) == ": open\n\n"
        first = await asyncio.wait_for(anext(stream), 1)
        assert json.loads(parse_sse(first)[0][1]) == {"text": "Hel"}
        assert not release.is_set()  # delivered while the pump was still waiting upstream
        release.set()
        rest = [frame async for frame in stream]
        assert [json.loads(d) for _, d in parse_sse("".join(rest))] == [{"text": "lo"}]
        assert rec.outcomes == [RelayOutcome(RelayStatus.COMPLETED, events_sent=2)]

    asyncio.run(main())


def test_relay_sends_heartbeats_while_nothing_arrives():
    async def main() -> None:
        rec = Recorder()

        async def pump(queue: asyncio.Queue[str]) -> None:
            await asyncio.sleep(0.35)  # e.g. queued for admission, or the model thinking
            await queue.put(sse_event("delta", {"text": "late"}))

        frames = [f async for f in relay(pump, heartbeat_seconds=0.1, on_finish=rec.on_finish)]
        pings = frames[1:-1]
        assert frames[0] == ": open\n\n"
        assert len(pings) >= 2 and set(pings) == {": ping\n\n"}
        assert parse_sse(frames[-1]) == [("delta", '{"text": "late"}')]
        assert rec.outcomes[0].status is RelayStatus.COMPLETED

    asyncio.run(main())


def test_a_pump_error_becomes_a_generic_error_event_and_an_error_outcome(caplog):
    async def main() -> None:
        rec = Recorder()
        boom = RuntimeError("upstream said sk-secret-key in its error")

        async def pump(queue: asyncio.Queue[str]) -> None:
            await queue.put(sse_event("delta", {"text": "partial"}))
            raise boom

        frames = "".join([f async for f in relay(pump, on_finish=rec.on_finish)])
        events = parse_sse(frames)
        assert [e for e, _ in events] == ["delta", "error"]
        error = json.loads(events[1][1])
        assert error["retryable"] is True and "try again" in error["message"]
        assert "secret" not in frames
        assert rec.outcomes == [RelayOutcome(RelayStatus.ERROR, events_sent=1, error=boom)]

    asyncio.run(main())
    assert "chat stream failed" in caplog.text


def test_a_relay_error_carries_its_own_public_message():
    async def main() -> None:
        rec = Recorder()

        async def pump(queue: asyncio.Queue[str]) -> None:
            raise RelayError("The provider's quota is exhausted.", retryable=False)

        frames = "".join([f async for f in relay(pump, on_finish=rec.on_finish)])
        [(event, data)] = parse_sse(frames)
        assert event == "error"
        assert json.loads(data) == {
            "message": "The provider's quota is exhausted.",
            "retryable": False,
        }
        assert rec.outcomes[0].status is RelayStatus.ERROR

    asyncio.run(main())


def make_endless_pump(rec: Recorder):
    async def pump(queue: asyncio.Queue[str]) -> None:
        try:  # stands for `async with upstream_stream(...)`: closing it is what matters
            n = 0
            while True:
                await queue.put(sse_event("delta", {"n": n}))
                n += 1
                await asyncio.sleep(0.01)
        finally:
            rec.pump_closed.set()

    return pump


def test_closing_the_stream_early_stops_the_pump_and_reports_stopped():
    async def main() -> None:
        rec = Recorder()
        stream = relay(make_endless_pump(rec), on_finish=rec.on_finish)
        await anext(stream)  # ": open"
        await anext(stream)
        await anext(stream)
        await stream.aclose()  # what happens when the client goes away between two events
        assert rec.pump_closed.is_set()
        assert rec.outcomes == [RelayOutcome(RelayStatus.STOPPED, events_sent=2)]

    asyncio.run(main())


def test_cancelling_the_response_task_stops_the_pump_and_re_raises():
    async def main() -> None:
        rec = Recorder()
        received: list[str] = []
        gate = asyncio.Event()

        async def slow_pump(queue: asyncio.Queue[str]) -> None:
            try:
                await queue.put(sse_event("delta", {"text": "one"}))
                await asyncio.sleep(3600)  # the upstream stalls; the client disconnects
            finally:
                rec.pump_closed.set()

        async def respond() -> None:  # Django >= 5.0 cancels this task on disconnect
            async for frame in relay(slow_pump, on_finish=rec.on_finish):
                received.append(frame)
                if len(received) == 2:
                    gate.set()

        task = asyncio.create_task(respond())
        await asyncio.wait_for(gate.wait(), 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert rec.pump_closed.is_set()
        assert rec.outcomes == [RelayOutcome(RelayStatus.STOPPED, events_sent=1)]

    asyncio.run(main())


def test_a_failing_on_finish_is_logged_not_raised(caplog):
    async def main() -> None:
        async def pump(queue: asyncio.Queue[str]) -> None:
            await queue.put(sse_event("done", {}))

        async def on_finish(outcome: RelayOutcome) -> None:
            raise RuntimeError("database down")

        frames = [f async for f in relay(pump, on_finish=on_finish)]
        assert parse_sse("".join(frames)) == [("done", "{}")]

    asyncio.run(main())
    assert "on_finish failed" in caplog.text
