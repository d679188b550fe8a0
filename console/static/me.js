// The agent's own page refreshes itself (issue 29): every few seconds it fetches /me/live, the
// server-rendered (escaped) parts that change by themselves: the current call with the caller's
// history, the cool-down time left, the answers to block requests, the callbacks. The incidents and
// their forms are left alone (the agent may be typing an account). The server checks who asks on
// every fetch; an ended session reloads the page, which goes to the login.
(function () {
  "use strict";
  var page = document.getElementById("me-page");
  if (!page || !window.fetch || !window.DOMParser) return;
  var every = parseInt(page.dataset.every, 10) || 10000, pending = false, stopped = false;
  function refresh() {
    if (pending || stopped || document.hidden) return;
    pending = true;
    fetch(page.dataset.refresh, { credentials: "same-origin", redirect: "manual", cache: "no-store" }).then(function (r) {
      if (r.type === "opaqueredirect" || r.status === 401 || r.status === 403) {
        stopped = true;
        window.location.reload();
        return;
      }
      if (!r.ok) return;
      return r.text().then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["my-call", "my-side"].forEach(function (id) {
          var old = document.getElementById(id), next = fresh.getElementById(id);
          if (old && next) old.replaceWith(document.importNode(next, true));
        });
        page.dataset.refreshed = String(Date.now());
      });
    }).catch(function () { /* the network is away: the next turn tries again */ }).then(function () { pending = false; });
  }
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", refresh);
})();
