// The chat page: send a question, show the answer as it streams, Stop, Regenerate, scope/budget.
// Builds on window.DocQAChat (chat.js). Only server-sanitised HTML ("html" events) is inserted
// as markup; everything else is text.
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root) return;
  var msg = root.dataset;
  var list = root.querySelector("[data-messages]");
  var form = root.querySelector("[data-composer]");
  var textarea = form.querySelector("textarea");
  var sendButton = form.querySelector("[data-send]");
  var stopButton = form.querySelector("[data-stop]");
  var regenButton = form.querySelector("[data-regenerate]");
  var current = null;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined || values[key] === null ? "" : String(values[key]);
    });
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function scrollDown() { window.scrollTo(0, document.body.scrollHeight); }

  function setBusy(busy) {
    sendButton.disabled = busy;
    regenButton.disabled = busy;
    stopButton.hidden = !busy;
  }

  function answerBubble() {
    var empty = list.querySelector("[data-empty]");
    if (empty) empty.remove();
    var li = element("li", "bubble assistant status-streaming");
    var answer = element("div", "answer");
    var status = element("p", "muted status-line", msg.msgThinking);
    li.appendChild(answer);
    li.appendChild(status);
    list.appendChild(li);
    return { li: li, answer: answer, status: status, text: "" };
  }

  function showUsage(bubble, data, meta) {
    var line = element("p", "usage muted");
    if (meta && meta.offline) {
      line.textContent = msg.msgOffline;
    } else {
      line.textContent = fill(msg.msgUsage, {
        model: data.model, prompt: data.prompt_tokens, cached: data.cached_tokens,
        completion: data.completion_tokens, cost: data.cost_cny === null ? "–" : data.cost_cny,
      });
    }
    if (meta && meta.sources && meta.sources.length) {
      line.appendChild(document.createTextNode(" · " + msg.msgSources + " "));
      meta.sources.forEach(function (source, index) {
        var link = element("a", "", source.name);
        link.href = root.dataset.askUrl.replace(/chat\/\d+\/ask\/$/, "documents/" + source.id + "/");
        line.appendChild(link);
        if (index < meta.sources.length - 1) line.appendChild(document.createTextNode(", "));
      });
    }
    bubble.li.appendChild(line);
  }

  function run(url, body) {
    var bubble = answerBubble();
    var meta = null;
    setBusy(true);
    scrollDown();
    current = window.DocQAChat.stream(url, body, {
      queued: function (data) {
        bubble.status.textContent = fill(msg.msgQueued, { position: data.position, eta: data.eta_seconds });
      },
      meta: function (data) { meta = data; },
      delta: function (data) {
        bubble.status.textContent = "";
        bubble.text += data.text;
        if (!bubble.answer.dataset.html) bubble.answer.textContent = bubble.text;
        scrollDown();
      },
      html: function (data) {
        bubble.answer.dataset.html = "1";
        bubble.answer.innerHTML = data.html; // sanitised on the server (apps/chat/markdown.py)
      },
      usage: function (data) { showUsage(bubble, data, meta); },
      error: function (data) {
        bubble.status.textContent = "";
        var error = element("p", "form-error", data.message);
        error.setAttribute("role", "alert");
        bubble.li.appendChild(error);
        if (data.retryable !== false) {
          var retry = element("button", "", msg.msgRetry);
          retry.type = "button";
          retry.addEventListener("click", function () { run(root.dataset.regenerateUrl, {}); });
          bubble.li.appendChild(retry);
        }
      },
      done: function () {
        bubble.li.classList.remove("status-streaming");
        if (bubble.status.textContent === msg.msgThinking) bubble.status.textContent = "";
      },
      close: function (data) {
        bubble.li.classList.remove("status-streaming");
        if (data.stopped) {
          bubble.status.textContent = msg.msgStopped;
          bubble.li.classList.add("status-stopped");
        } else if (bubble.status.textContent === msg.msgThinking) {
          bubble.status.textContent = "";
        }
        finish();
      },
    });
  }

  function finish() {
    current = null;
    setBusy(false);
    regenButton.hidden = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = textarea.value.trim();
    if (!question || current) return;
    var empty = list.querySelector("[data-empty]");
    if (empty) empty.remove();
    var li = element("li", "bubble user");
    li.appendChild(element("div", "text", question));
    list.appendChild(li);
    textarea.value = "";
    run(root.dataset.askUrl, { question: question });
  });

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stopButton.addEventListener("click", function () { if (current) current.abort(); });

  regenButton.addEventListener("click", function () {
    if (current) return;
    var answers = list.querySelectorAll(".bubble.assistant");
    if (answers.length) answers[answers.length - 1].remove();
    run(root.dataset.regenerateUrl, {});
  });

  var scopeForm = root.querySelector("[data-scope-form]");
  if (scopeForm) {
    scopeForm.addEventListener("change", function () {
      var data = new FormData(scopeForm);
      fetch(root.dataset.scopeUrl, {
        method: "POST", body: data, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin",
      }).then(function (response) { return response.json(); }).then(function (budget) {
        if (budget.error) return;
        root.querySelector("[data-budget]").textContent = fill(msg.msgTokens, budget);
        var detail = root.querySelector("[data-budget-detail]");
        detail.textContent = budget.narrowed.length
          ? fill(msg.msgNarrowed, { names: budget.narrowed.join(", ") })
          : (budget.fits ? "" : budget.reason);
      });
    });
  }
})();
