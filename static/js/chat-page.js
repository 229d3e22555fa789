// The chat page: send a question, show the answer as it streams, Stop, Retry, Regenerate, and the
// document scope with its token budget. Builds on window.DocQAChat (chat.js); texts come from
// Django's JavaScript catalog (gettext/ngettext/interpolate), loaded before this file.
// Only server-sanitised HTML ("html" events, apps/chat/markdown.py) is inserted as markup;
// everything else is set as text.
(function () {
  "use strict";
  var _ = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (s, p, n) { return n === 1 ? s : p; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, key) { return String(obj[key]); });
  };

  var root = document.getElementById("chat");
  if (!root) return;
  var list = root.querySelector("[data-messages]");
  var form = root.querySelector("[data-composer]");
  var current = null;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function scrollDown() { window.scrollTo(0, document.body.scrollHeight); }

  function documentUrl(id) {
    return root.dataset.documentUrl.replace(/\/0\/$/, "/" + encodeURIComponent(id) + "/");
  }

  function removeEmptyNote() {
    var empty = list.querySelector("[data-empty]");
    if (empty) empty.remove();
  }

  // --- confirm before deleting -----------------------------------------------------------------
  root.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (event) {
      if (!window.confirm(f.dataset.confirm)) event.preventDefault();
    });
  });

  // --- scope and budget ------------------------------------------------------------------------
  var scopeForm = root.querySelector("[data-scope-form]");
  if (scopeForm) {
    scopeForm.addEventListener("change", function (event) {
      if (event.target.name === "documents" && event.target.checked) {
        var some = scopeForm.querySelector("input[name=scope][value=some]");
        if (some) some.checked = true;
      }
      fetch(root.dataset.scopeUrl, {
        method: "POST",
        body: new FormData(scopeForm),
        headers: {"X-CSRFToken": window.DocQAChat.csrfToken()},
        credentials: "same-origin"
      }).then(function (response) {
        return response.json();
      }).then(function (budget) {
        var detail = root.querySelector("[data-budget-detail]");
        if (budget.message) { detail.textContent = budget.message; return; }
        root.querySelector("[data-budget]").textContent = interpolate(
          _("%(used)s of %(limit)s tokens"), budget, true);
        var n = budget.documents.length;
        root.querySelector("[data-budget-count]").textContent = interpolate(
          ngettext("%(n)s document", "%(n)s documents", n), {n: n}, true);
        var parts = [];
        if (n) parts.push(_("In this answer:") + " " + budget.documents.join(", ") + ".");
        if (budget.narrowed.length) {
          parts.push(interpolate(_("Too long to include whole, so only the passages most relevant to each question are used from: %(names)s."),
            {names: budget.narrowed.join(", ")}, true));
        } else if (!budget.fits) {
          parts.push(budget.reason);
        }
        detail.textContent = parts.join(" ");
      }).catch(function () {
        root.querySelector("[data-budget-detail]").textContent = _("The scope could not be saved. Please try again.");
      });
    });
  }

  if (!form) return; // read-only: this member may not ask here

  var textarea = form.querySelector("textarea");
  var sendButton = form.querySelector("[data-send]");
  var stopButton = form.querySelector("[data-stop]");
  var regenButton = form.querySelector("[data-regenerate]");

  function setBusy(busy) {
    sendButton.disabled = busy;
    regenButton.disabled = busy;
    stopButton.hidden = !busy;
    root.classList.toggle("is-busy", busy);
  }

  function answerBubble() {
    removeEmptyNote();
    var li = element("li", "bubble assistant is-streaming");
    // The answer is the server's latest rendering ("html" events) followed by the text that
    // has arrived since, as plain text: text shows at once, formatting follows.
    var answer = element("div", "answer");
    var rendered = element("div", "answer-rendered");
    var tail = element("span", "answer-tail");
    var status = element("p", "muted status-line", _("Thinking…"));
    answer.appendChild(rendered);
    answer.appendChild(tail);
    li.appendChild(answer);
    li.appendChild(status);
    list.appendChild(li);
    return {li: li, answer: answer, rendered: rendered, tail: tail, status: status, text: "", unrendered: ""};
  }

  function queuedText(data) {
    if (data.eta_seconds === null || data.eta_seconds === undefined) {
      return interpolate(_("Waiting for the AI provider: you are number %(position)s in line."), data, true);
    }
    return interpolate(_("Waiting for the AI provider: you are number %(position)s in line (about %(eta_seconds)s s)."), data, true);
  }

  function showUsage(bubble, data, meta) {
    var line = element("p", "usage muted");
    if (meta && meta.offline) {
      line.textContent = _("Offline answer");
    } else {
      line.textContent = interpolate(
        _("%(model)s · %(prompt_tokens)s prompt (%(cached_tokens)s cached) + %(completion_tokens)s completion tokens · ¥%(cost)s"),
        {
          model: data.model, prompt_tokens: data.prompt_tokens, cached_tokens: data.cached_tokens,
          completion_tokens: data.completion_tokens, cost: data.cost_cny === null ? "–" : data.cost_cny
        }, true);
    }
    // Mirrors chat/_usage.html: the documents the answer cited or quoted, then the rest.
    var sources = (meta && meta.sources) || [];
    var cited = sources.filter(function (source) { return source.cited !== false; });
    var others = sources.filter(function (source) { return source.cited === false; });
    if (cited.length) {
      line.appendChild(document.createTextNode(" · " + _("Sources:") + " "));
      appendSourceLinks(line, cited);
    }
    if (others.length) {
      line.appendChild(document.createTextNode(" · "));
      var rest = element("span", "also-in-scope", cited.length ? _("Also in scope:") : _("In scope, not cited:"));
      rest.setAttribute("data-also-in-scope", "");
      rest.appendChild(document.createTextNode(" "));
      appendSourceLinks(rest, others);
      line.appendChild(rest);
    }
    bubble.li.appendChild(line);
  }

  function appendSourceLinks(parent, sources) {
    sources.forEach(function (source, index) {
      var link = element("a", "", source.name);
      link.href = documentUrl(source.id);
      parent.appendChild(link);
      if (index < sources.length - 1) parent.appendChild(document.createTextNode(", "));
    });
  }

  // The answer's quotations checked against the documents (mirrors chat/_quotes.html).
  function showQuotes(bubble, checks) {
    if (!checks.length) return;
    var missing = checks.filter(function (check) { return !check.found; });
    var box = element("div", "quote-check" + (missing.length ? " has-missing" : ""));
    box.setAttribute("data-quote-check", "");
    var line = element("p");
    if (missing.length) {
      line.textContent = "⚠ " + interpolate(ngettext(
        "%(n)s of %(total)s quotations was not found in the documents:",
        "%(n)s of %(total)s quotations were not found in the documents:", missing.length),
        {n: missing.length, total: checks.length}, true);
      box.appendChild(line);
      var list = element("ul");
      missing.forEach(function (check) {
        list.appendChild(element("li", "", "“" + check.quote + "”" + (check.document ? " [" + check.document + "]" : "")));
      });
      box.appendChild(list);
    } else {
      line.textContent = "✓ " + interpolate(ngettext(
        "The quotation was found in the documents.",
        "All %(n)s quotations were found in the documents.", checks.length),
        {n: checks.length}, true);
      box.appendChild(line);
    }
    bubble.li.appendChild(box);
  }

  function showTitle(title) {
    if (!title) return;
    var input = root.querySelector("#conv-title");
    if (input && !input.value) input.value = title;
    var link = document.querySelector(".conversation-list a[aria-current]");
    if (link) link.textContent = title;
    document.title = title + " · DocQA";
  }

  function retryButton(bubble) {
    var retry = element("button", "", _("Retry"));
    retry.type = "button";
    retry.addEventListener("click", function () {
      if (current) return;
      bubble.remove();
      run(root.dataset.regenerateUrl, {});
    });
    return retry;
  }

  function resendButton(bubble) {
    var retry = element("button", "", _("Retry"));
    retry.type = "button";
    retry.addEventListener("click", function () {
      if (current) return;
      bubble.remove();
      form.requestSubmit();
    });
    return retry;
  }

  // `asked` ({li, question}) is the bubble of a new question, absent for a regenerate.
  function run(url, body, asked) {
    var bubble = answerBubble();
    var meta = null;
    setBusy(true);
    scrollDown();
    current = window.DocQAChat.stream(url, body, {
      meta: function (data) { meta = data; showTitle(data.title); },
      queued: function (data) { if (!bubble.text) bubble.status.textContent = queuedText(data); },
      waiting: function (data) {
        if (!bubble.text) bubble.status.textContent = interpolate(_("Thinking… (%(seconds)s s)"), data, true);
      },
      delta: function (data) {
        bubble.status.textContent = "";
        bubble.text += data.text;
        bubble.unrendered += data.text;
        bubble.tail.textContent = bubble.unrendered;
        scrollDown();
      },
      html: function (data) {
        // It covers every delta before it: the server sends it after the text it renders.
        bubble.rendered.innerHTML = data.html; // sanitised on the server
        bubble.unrendered = "";
        bubble.tail.textContent = "";
      },
      quotes: function (data) { showQuotes(bubble, data.checks || []); },
      sources: function (data) { if (meta) meta.sources = data.sources; },
      usage: function (data) { showUsage(bubble, data, meta); },
      error: function (data) {
        bubble.status.textContent = "";
        bubble.li.classList.add("is-failed");
        var error = element("p", "form-error", data.message);
        error.setAttribute("role", "alert");
        bubble.li.appendChild(error);
        if (asked && data.status) {
          // Refused before anything was saved (a limit, an empty question): the question goes
          // back into the box, and there is no earlier answer to regenerate.
          asked.li.remove();
          if (!textarea.value) textarea.value = asked.question;
          if (data.retryable) bubble.li.appendChild(resendButton(bubble.li));
        } else {
          bubble.li.appendChild(retryButton(bubble.li));
        }
      },
      close: function (data) {
        bubble.li.classList.remove("is-streaming");
        if (data.stopped) {
          bubble.status.textContent = _("Stopped. The partial answer is saved.");
          bubble.li.classList.add("is-stopped");
        } else if (!bubble.li.classList.contains("is-failed")) {
          bubble.status.textContent = "";
          bubble.li.classList.add("is-complete");
        }
        current = null;
        setBusy(false);
        regenButton.hidden = false;
        textarea.focus();
      }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = textarea.value.trim();
    if (!question || current) return;
    removeEmptyNote();
    var li = element("li", "bubble user");
    li.appendChild(element("div", "text", question));
    list.appendChild(li);
    textarea.value = "";
    run(root.dataset.askUrl, {question: question}, {li: li, question: question});
  });

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stopButton.addEventListener("click", function () { if (current) current.abort(); });

  function regenerate() {
    if (current) return;
    var bubbles = list.querySelectorAll(".bubble");
    var last = bubbles[bubbles.length - 1];
    if (last && last.classList.contains("assistant")) last.remove();
    run(root.dataset.regenerateUrl, {});
  }

  regenButton.addEventListener("click", regenerate);
  list.querySelectorAll("[data-retry]").forEach(function (button) {
    button.addEventListener("click", regenerate);
  });
})();
