// The workspace export page: each export still queued or running polls its status URL and
// updates its progress bar, then shows the download link (or the error). Texts come from the
// server (already translated) or Django's JavaScript catalog.
(function () {
  "use strict";
  var _ = window.gettext || function (s) { return s; };
  var POLL_MS = 1000;

  function follow(item) {
    var url = item.dataset.statusUrl;
    var label = item.querySelector("[data-export-label]");
    var bar = item.querySelector("[data-export-progress]");
    var count = item.querySelector("[data-export-count]");
    var link = item.querySelector("[data-export-download]");
    var error = item.querySelector("[data-export-error]");

    function show(data) {
      label.textContent = data.label;
      if (bar) bar.value = data.percent;
      if (count) count.textContent = data.done + " / " + data.total;
      if (data.download_url) {
        link.href = data.download_url;
        link.hidden = false;
      }
      error.textContent = data.error;
      error.hidden = !data.error;
      var finished = data.status !== "queued" && data.status !== "running";
      if (finished) {
        if (bar) bar.hidden = true;
        return;
      }
      window.setTimeout(poll, POLL_MS);
    }

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(show)
        .catch(function () {
          error.textContent = _("Could not check the export. Retrying…");
          error.hidden = false;
          window.setTimeout(poll, POLL_MS * 5);
        });
    }

    poll();
  }

  document.querySelectorAll("[data-export][data-status-url]").forEach(follow);
})();
