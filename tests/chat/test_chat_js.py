"""static/js/chat.js in a real Chromium against a loopback server that streams slowly."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHAT_JS = (Path(__file__).resolve().parents[2] / "static" / "js" / "chat.js").read_bytes()
PAGE = b"""<!doctype html><html><head><meta charset="utf-8">
<script src="/chat.js"></script></head><body><p id="answer"></p></body></html>"""


class Seen:
    requests: list[dict] = []
    disconnected = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        body = CHAT_JS if self.path == "/chat.js" else PAGE
        self.send_response(200)
        self.send_header(
            "Content-Type", "text/javascript" if self.path == "/chat.js" else "text/html"
        )
        self.send_header("Set-Cookie", "csrftoken=cookie-token-123; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        Seen.requests.append(
            {
                "path": self.path,
                "csrf": self.headers.get("X-CSRFToken"),
                "type": self.headers.get("Content-Type"),
                "body": self.rfile.read(length).decode(),
            }
        )
        if self.path == "/busy":
            body = json.dumps({"message": "Too many questions right now.", "retryable": True})
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        getattr(self, "stream_" + self.path.strip("/"))()

    def send(self, text: str, pause: float = 0.05) -> None:
        self.wfile.write(text.encode())
        self.wfile.flush()
        time.sleep(pause)

    def stream_ask(self) -> None:
        self.send(": open\n\n")
        self.send('event: queued\ndata: {"position": 2, "eta_seconds": 4}\n\n')
        self.send(": ping\n\n")
        self.send('event: meta\r\ndata: {"model": "moonshot-v1-8k", "narrowed": []}\r\n\r\n')
        self.send('event: delta\ndata: {"text": "你')  # an event split across writes …
        self.send('好"}\n\nevent: del')
        self.send('ta\ndata: {"text": " world"}\r')  # … and a CRLF split between two chunks
        self.send('\n\r\nevent: html\ndata: {"html": "<p>你好 world</p>"}\n\n')
        self.send("event: note\ndata: line one\ndata: line two\n\n")
        self.send('event: done\ndata: {"finish_reason": "stop"}\n\n', pause=0)

    def stream_slow(self) -> None:
        try:
            self.send(": open\n\n")
            self.send('event: delta\ndata: {"text": "partial"}\n\n')
            for _ in range(100):  # the upstream keeps thinking; pings until the client leaves
                self.send(": ping\n\n", pause=0.05)
        except (BrokenPipeError, ConnectionResetError):
            Seen.disconnected.set()

    def stream_cut(self) -> None:
        self.send('event: delta\ndata: {"text": "half an ans"}\n\n', pause=0)
        self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server + "/")
        yield page
        browser.close()


RUN = """async ([url, body, abortOnFirstDelta]) => {
  const log = [];
  const names = ["open", "queued", "meta", "delta", "html", "note", "usage", "error", "done"];
  const handlers = {};
  let handle;
  names.forEach((n) => { handlers[n] = (d) => {
    log.push([n, d, performance.now()]);
    if (n === "delta" && abortOnFirstDelta) handle.abort();
  }; });
  handlers.html = (d) => {
    document.getElementById("answer").innerHTML = d.html;
    log.push(["html", d]);
  };
  const closed = new Promise((resolve) => {
    handlers.close = (d) => { log.push(["close", d]); resolve(); };
  });
  handle = DocQAChat.stream(url, body, handlers);
  await closed;
  return log.map((e) => [e[0], e[1]]);
}"""


def test_events_are_parsed_incrementally_and_dispatched(page, server):
    Seen.requests.clear()
    log = page.evaluate(RUN, ["/ask", {"question": "你好?"}, False])
    assert log == [
        ["open", {"status": 200}],
        ["queued", {"position": 2, "eta_seconds": 4}],
        ["meta", {"model": "moonshot-v1-8k", "narrowed": []}],
        ["delta", {"text": "你好"}],
        ["delta", {"text": " world"}],
        ["html", {"html": "<p>你好 world</p>"}],
        ["note", "line one\nline two"],
        ["done", {"finish_reason": "stop"}],
        ["close", {"stopped": False}],
    ]
    assert page.inner_text("#answer") == "你好 world"
    [request] = Seen.requests
    assert request["csrf"] == "cookie-token-123"
    assert request["type"] == "application/json"
    assert json.loads(request["body"]) == {"question": "你好?"}


def test_events_arrive_while_the_response_is_still_streaming(page, server):
    timed = page.evaluate(
        """async (url) => {
          const times = {};
          await new Promise((resolve) => {
            DocQAChat.stream(url, "q=1", {
              queued: () => { times.queued = performance.now(); },
              done: () => { times.done = performance.now(); },
              close: resolve,
            });
          });
          return times.done - times.queued;
        }""",
        "/ask",
    )
    assert timed > 200  # the server spaces its writes ~50 ms apart: nothing was buffered


def test_the_data_attribute_token_wins_over_the_cookie(page, server):
    Seen.requests.clear()
    page.evaluate("document.body.dataset.csrfToken = 'attribute-token'")
    try:
        page.evaluate(RUN, ["/ask", "plain body", False])
    finally:
        page.evaluate("delete document.body.dataset.csrfToken")
    assert Seen.requests[0]["csrf"] == "attribute-token"
    assert Seen.requests[0]["body"] == "plain body"


def test_stop_aborts_the_request_and_the_server_sees_the_disconnect(page, server):
    Seen.disconnected.clear()
    log = page.evaluate(RUN, ["/slow", {"question": "q"}, True])
    assert log == [
        ["open", {"status": 200}],
        ["delta", {"text": "partial"}],
        ["close", {"stopped": True}],
    ]
    assert Seen.disconnected.wait(5)


def test_a_stream_cut_short_reports_a_retryable_network_error(page, server):
    log = page.evaluate(RUN, ["/cut", {}, False])
    names = [name for name, _ in log]
    assert names == ["open", "delta", "error", "close"]
    assert log[2][1]["retryable"] is True and log[2][1]["network"] is True


def test_a_json_error_reply_becomes_an_error_event(page, server):
    log = page.evaluate(RUN, ["/busy", {}, False])
    assert log == [
        ["error", {"message": "Too many questions right now.", "retryable": True, "status": 429}],
        ["close", {"stopped": False}],
    ]


def test_the_parser_handles_every_line_ending_and_byte_by_byte_input(page):
    events = page.evaluate(
        """() => {
          const out = [];
          const parser = DocQAChat.createParser((name, data) => out.push([name, data]));
          const text = ": c\\r\\nevent: a\\rdata: 1\\r\\rdata:2\\ndata\\n\\nevent:x\\n\\n" +
                       "event: b\\r\\ndata: {\\"k\\": \\"v\\"}\\r\\n\\r\\n";
          for (const ch of text) parser.feed(ch);
          return out;
        }"""
    )
    # "event:x" with no data is not dispatched; a bare "data" line adds an empty line.
    assert events == [["a", "1"], ["message", "2\n"], ["b", '{"k": "v"}']]
