// The Synchronize button: POST with fetch, then poll the link's status until the run is done,
// so the page shows progress ("120 of 1,000 meetings") and the result without a reload. A link
// whose first sync is pending or under way is followed from page load, with no press. Without
// JavaScript the form still posts and the page reloads with a message.
(function () {
  "use strict";
  // Polling stops when the text has not changed for this long (a worker that never comes, say);
  // a long first sync keeps it alive by making progress.
  var QUIET_LIMIT_MS = 120000;

  function count(n) { return Number(n).toLocaleString(); }

  function describe(status) {
    var label = status.first_sync ? "First synchronisation" : "Synchronising";
    if (status.running) {
      var p = status.progress;
      if (p) return label + ": " + count(p.done) + " of " + count(p.total) + " meetings…";
      return label + ": reading both calendars…";
    }
    if (status.queued) return label + ": waiting for a worker…";
    var run = status.last_run;
    if (status.first_sync && !run) return "The first synchronisation starts in a moment…";
    var text = status.display_state + ".";
    if (status.last_success_at) text += " Last success " + new Date(status.last_success_at).toLocaleString() + ".";
    if (run) text += " Last run: " + run.status + ". " + (run.summary || "") + (run.error ? " " + run.error : "");
    if (status.failure_count) text += " Failed " + status.failure_count + " time(s) in a row; retrying later.";
    return text;
  }

  function finished(status) {
    // A first sync that has not run yet is waited for: the dispatcher or the queue starts it.
    return !status.queued && !status.running && !(status.first_sync && !status.last_run);
  }

  // One polling loop per link at a time, whether the page started it or a press did.
  function follow(form) {
    var button = form.querySelector("button");
    var out = document.getElementById(form.dataset.output);
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
          var text = describe(status);
          if (text !== out.textContent) { out.textContent = text; form.changedAt = Date.now(); }
          if (finished(status) || Date.now() - form.changedAt > QUIET_LIMIT_MS) {
            form.polling = false;
            out.dataset.done = "1";
            button.disabled = false;
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
      // Disabled until this press's run is over: pressing again would only be refused.
      button.disabled = true;
      out.dataset.done = "";
      out.textContent = "Requesting…";
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
