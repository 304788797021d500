// Pages that show the practice calendar follow its changes without a reload (PRODUCT 36):
// every few seconds, while the page is visible, ask for the calendar's version
// (/account/calendarsync/version/, the highest change number of the user's meetings); when it
// moves, fetch this page again and swap in the fresh content of its [data-live] element. An
// edit that sync brings in from an external calendar (within seconds, with push) then shows by
// itself.
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.fetch) {
    return;
  }
  var versionUrl = region.getAttribute("data-live");
  var every = 5000;
  var known = null;
  // Not the user's own activity (accounts/middleware.py): an open tab keeps no one "active".
  var BACKGROUND = { "X-CalSync-Background": "1" };

  function schedule() {
    window.setTimeout(check, every);
  }

  function refresh() {
    return fetch(window.location.href, { headers: BACKGROUND, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text === null) {
          return;
        }
        var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("[data-live]");
        if (fresh) {
          region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
          region.setAttribute("data-refreshed", String(Date.now()));
        }
      });
  }

  function check() {
    if (document.visibilityState !== "visible") {
      schedule();
      return;
    }
    fetch(versionUrl, { headers: Object.assign({ Accept: "application/json" }, BACKGROUND), credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data === null) {
          return null;
        }
        var changed = known !== null && data.version !== known;
        known = data.version;
        return changed ? refresh() : null;
      })
      .catch(function () {
        return null;
      })
      .then(schedule);
  }

  check();
})();
