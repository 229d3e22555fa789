// Chat streaming client: POST a question, read the SSE reply as it arrives, dispatch its events.
//
// EventSource cannot POST or send the CSRF header, so this uses fetch() and parses the
// event stream itself (WHATWG rules: CRLF/LF/CR line ends, ":" comment lines ignored, an event
// is dispatched on a blank line, multi-line data joined with "\n").
//
//   var handle = DocQAChat.stream(url, {question: "…"}, {
//     queued: function (d) {…}, meta: …, delta: …, html: function (d) { el.innerHTML = d.html; },
//     usage: …, error: function (d) {…}, done: …, close: function (d) {… d.stopped …}
//   });
//   stopButton.onclick = handle.abort;
//
// Handlers get the event's JSON data (or the raw string). Besides the server's own events:
// "open" {status} once the stream starts; "error" {message, retryable, network: true} when
// the connection fails or ends without "done"/"error"; "close" {stopped} always, last.
// The only HTML the page should insert is a server-sanitised "html" event. This file touches
// no DOM itself except to read the CSRF token.
(function () {
  "use strict";

  var _ = typeof window.gettext === "function" ? window.gettext : function (s) { return s; };

  function csrfToken() {
    var holder = document.querySelector("[data-csrf-token]");
    if (holder && holder.getAttribute("data-csrf-token")) return holder.getAttribute("data-csrf-token");
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Returns {feed(text)}; calls onEvent(name, data) for each complete event.
  function createParser(onEvent) {
    var buffer = "";
    var name = "";
    var data = [];

    function line(text) {
      if (text === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        name = "";
        data = [];
        return;
      }
      if (text.charAt(0) === ":") return; // comment: heartbeat or stream opener
      var colon = text.indexOf(":");
      var field = colon < 0 ? text : text.slice(0, colon);
      var value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }

    return {
      feed: function (text) {
        buffer += text;
        var start = 0;
        for (var i = 0; i < buffer.length; i++) {
          var c = buffer.charAt(i);
          if (c !== "\n" && c !== "\r") continue;
          if (c === "\r" && i + 1 === buffer.length) break; // an LF may follow in the next chunk
          line(buffer.slice(start, i));
          if (c === "\r" && buffer.charAt(i + 1) === "\n") i++;
          start = i + 1;
        }
        buffer = buffer.slice(start);
      }
    };
  }

  function encodeBody(body, headers) {
    if (body == null || typeof body === "string" || body instanceof FormData ||
        body instanceof URLSearchParams || body instanceof Blob) return body;
    headers["Content-Type"] = "application/json";
    return JSON.stringify(body);
  }

  // A non-stream reply (rate limit, validation, CSRF failure): its JSON message if it has one.
  function failure(response) {
    var retryable = response.status === 429 || response.status >= 500;
    var fallback = _("The server could not answer (HTTP %s).").replace("%s", String(response.status));
    return response.text().then(function (text) {
      var data = null;
      try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
      var message = data && typeof data.message === "string" ? data.message : fallback;
      var error = {message: message, retryable: retryable, status: response.status};
      if (data && typeof data.retryable === "boolean") error.retryable = data.retryable;
      return error;
    }, function () {
      return {message: fallback, retryable: retryable, status: response.status};
    });
  }

  function stream(url, body, handlers) {
    handlers = handlers || {};
    var controller = new AbortController();
    var stopped = false;
    var finished = false; // the server sent "done" or "error"

    function call(name, data) {
      var handler = handlers[name];
      if (typeof handler !== "function") return;
      try { handler(data); } catch (e) { window.console && console.error(e); }
    }

    function dispatch(name, raw) {
      var data = raw;
      try { data = JSON.parse(raw); } catch (e) { /* plain text data */ }
      if (name === "done" || name === "error") finished = true;
      call(name, data);
    }

    var headers = {"X-CSRFToken": csrfToken(), "Accept": "text/event-stream"};
    var done = fetch(url, {
      method: "POST",
      body: encodeBody(body, headers),
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok || type.indexOf("text/event-stream") !== 0 || !response.body) {
        return failure(response).then(function (error) {
          finished = true;
          call("error", error);
        });
      }
      call("open", {status: response.status});
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var parser = createParser(dispatch);
      function read() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            parser.feed(decoder.decode());
            return;
          }
          parser.feed(decoder.decode(chunk.value, {stream: true}));
          return read();
        });
      }
      return read();
    }).then(function () {
      if (!finished && !stopped) {
        call("error", {
          message: _("The connection closed before the answer was complete. Please try again."),
          retryable: true,
          network: true
        });
      }
      call("close", {stopped: stopped});
    }, function (err) {
      if (!stopped && !(err && err.name === "AbortError")) {
        call("error", {
          message: _("The connection was lost. Please try again."),
          retryable: true,
          network: true
        });
      }
      call("close", {stopped: stopped});
    });

    return {
      abort: function () {
        if (stopped) return;
        stopped = !finished; // after "done" there is nothing left to stop
        controller.abort();
      },
      done: done
    };
  }

  window.DocQAChat = {stream: stream, createParser: createParser, csrfToken: csrfToken};
})();
