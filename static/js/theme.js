// Light/dark theme: follows the system until the user picks one; the choice is kept in localStorage.
(function () {
  "use strict";
  var KEY = "docqa-theme";
  var saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { /* storage disabled */ }
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-theme-toggle]");
    if (!button) return;
    var current = document.documentElement.dataset.theme ||
      (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    var next = current === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem(KEY, next); } catch (e) { /* storage disabled */ }
  });
})();
