// The Synchronise button: POST with fetch, then poll the link's status until the run is done,
// so the page shows progress ("120 of 1,000 meetings") and the result without a reload. The
// status line is the server's (calsync/status.py renders it for the page and for this poll
// alike), so the page says after a run what a reload would say, in the user's zone. A link
// whose first sync is pending or under way is followed from page load, with no press. Without
// JavaScript the form still posts and the page reloads with a message.
(function () {
  "use strict";
  // Polling stops when the text has not changed for this long (a worker that never comes, say);
  // a long first sync keeps it alive by making progress.
  var QUIET_LIMIT_MS = 120000;

  function finished(status) {
    // A first sync that has not run yet is waited for: the dispatcher or the queue starts it.
    return !status.queued && !status.running && !(status.first_sync && !status.last_run);
  }

  // One polling loop per link at a time, whether the page started it or a press did.
  function follow(form) {
    var button = form.querySelector("button");
    var out = document.getElementById(form.dataset.output);
    var changes = document.getElementById(form.dataset.changes);
    form.changedAt = Date.now();
    out.dataset.done = "";
    if (form.polling) return;
    form.polling = true;
    (function poll() {
      fetch(form.dataset.status, {
        // A background poll, not the user's own activity (accounts/middleware.py).
        headers: { Accept: "application/json", "X-CalSync-Background": "1" },
        credentials: "same-origin",
      })
        .then(function (r) { return r.json(); })
        .then(function (status) {
          // Compared with the last line received, not with innerHTML (which the browser
          // re-serialises, so it would never look equal).
          if (status.line !== form.lastLine) {
            form.lastLine = status.line;
            out.innerHTML = status.line;
            out.className = "status-line tone-" + status.tone;
            form.changedAt = Date.now();
          }
          if (changes && status.changes !== changes.innerHTML) changes.innerHTML = status.changes;
          if (finished(status) || Date.now() - form.changedAt > QUIET_LIMIT_MS) {
            form.polling = false;
            out.dataset.done = "1";
            button.removeAttribute("aria-disabled");
            // A problem that needs another button (Reconnect, Allow these deletions): the page
            // as the server renders it now has that button.
            if (status.action !== (out.dataset.action || "")) window.location.reload();
          } else {
            setTimeout(poll, 1000);
          }
        });
    })();
  }

  document.querySelectorAll("form.sync-now").forEach(function (form) {
    var button = form.querySelector("button");
    var out = document.getElementById(form.dataset.output);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      // Not pressable until this press's run is over (pressing again would only be refused),
      // but aria-disabled rather than disabled: a disabled button loses the keyboard focus.
      if (button.getAttribute("aria-disabled") === "true") return;
      button.setAttribute("aria-disabled", "true");
      out.dataset.done = "";
      // The words come from the page (data-requesting-text, translated in the template): a
      // script holds no prose. Without them, an ellipsis says "under way" in any language.
      out.textContent = form.dataset.requestingText || "…";
      form.lastLine = null;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (r) { return r.json(); })
        .then(function (reply) {
          out.textContent = reply.message;
          follow(form);
        });
    });
    if (form.dataset.watch) follow(form);
  });
})();
