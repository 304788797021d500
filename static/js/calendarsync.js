// The Synchronize button: POST with fetch, then poll the link's status until the run is done,
// so the page shows progress and the result without a reload. Without JavaScript the form still
// posts and the page reloads with a message.
(function () {
  "use strict";
  function describe(status) {
    if (status.queued) return "Waiting for a worker…";
    if (status.running) return "Synchronising…";
    var run = status.last_run;
    var text = status.display_state + ".";
    if (status.last_success_at) text += " Last success " + new Date(status.last_success_at).toLocaleString() + ".";
    if (run) text += " Last run: " + run.status + ". " + (run.summary || "") + (run.error ? " " + run.error : "");
    if (status.failure_count) text += " Failed " + status.failure_count + " time(s) in a row; retrying later.";
    return text;
  }
  function poll(url, out, button, started) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (status) {
        out.textContent = describe(status);
        var finished = !status.queued && !status.running;
        if (finished || Date.now() - started > 120000) {
          out.dataset.done = "1";
          button.disabled = false;
        } else {
          setTimeout(function () { poll(url, out, button, started); }, 1000);
        }
      });
  }
  document.querySelectorAll("form.sync-now").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      var out = document.getElementById(form.dataset.output);
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
          poll(form.dataset.status, out, button, Date.now());
        });
    });
  });
})();
