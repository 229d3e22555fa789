// The dashboard's reconcile section refreshes itself while a run is unfinished, so what the
// sweep found and did appears within seconds of the worker finishing it.
(function () {
  "use strict";
  const POLL_MS = 1500;
  function schedule() {
    const section = document.getElementById("reconcile-runs");
    if (section && section.hasAttribute("data-running")) window.setTimeout(poll, POLL_MS);
  }
  async function poll() {
    const section = document.getElementById("reconcile-runs");
    if (!section) return;
    try {
      const response = await fetch(section.dataset.pollUrl, { headers: { Accept: "text/html" } });
      if (response.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        const fresh = holder.querySelector("#reconcile-runs");
        if (fresh) section.replaceWith(fresh);
      }
    } catch (error) {
      // Offline for a moment: try again on the next tick.
    }
    schedule();
  }
  schedule();
})();
