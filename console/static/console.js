// Grenswacht console: the live board's event stream, the statistics charts, the letter's print button.
(function () {
  "use strict";
  // ---- the live board (issue 30): stays live, resumes, says when it is not ----------------
  function live() {
    var table = document.getElementById("live-table");
    if (!table || !window.EventSource) return;
    var rows = document.getElementById("live-rows"), dot = document.getElementById("live-dot");
    var helpRows = document.getElementById("help-rows");
    function helpRow(call) {
      return Array.prototype.find.call(helpRows.children, function (r) { return r.dataset.call === call; });
    }
    var state = document.getElementById("live-state"), panels = document.getElementById("board-panels");
    var url = table.dataset.events, lastId = null, source = null, pending = null, ended = false;
    var alertNew = alerts(url);    // issue 30: sound and desktop notification, if the user wants them
    function say(key) {            // key: a data-* message of #live-state, or null when live
      if (!state) return;
      state.hidden = !key;
      state.textContent = key ? state.dataset[key] : "";
      dot.classList.toggle("on", !key);
    }
    function refreshPanels() {     // the side panels again, server-rendered (escaped) HTML
      if (!panels || pending) return;
      pending = setTimeout(function () {
        pending = null;
        fetch(panels.dataset.panels, { credentials: "same-origin", redirect: "manual" }).then(function (r) {
          if (r.type === "opaqueredirect" || r.status === 303 || r.status === 302) { end(); return; }
          if (r.ok) return r.text().then(function (html) { panels.innerHTML = html; });
        }).catch(function () {});
      }, 250);
    }
    function end() { ended = true; if (source) source.close(); say("ended"); }
    function connect() {
      // After a reconnect of our own, resume after the last event shown (the browser's own
      // reconnects send Last-Event-ID by themselves).
      var u = lastId ? url.replace(/after=[^&]*/, "after=" + encodeURIComponent(lastId)) : url;
      source = new EventSource(u);
      source.onopen = function () { say(null); };
      source.onerror = function () {
        if (ended) return;
        say("reconnecting");
        if (source.readyState === EventSource.CLOSED) {   // refused (e.g. sent to /login): check, then retry
          fetch(panels ? panels.dataset.panels : "/", { credentials: "same-origin", redirect: "manual" }).then(function (r) {
            if (r.type === "opaqueredirect" || r.status === 303 || r.status === 302) end(); else setTimeout(connect, 3000);
          }).catch(function () { setTimeout(connect, 3000); });
        }
      };
      source.addEventListener("status", function (e) { say(e.data === "down" ? "down" : null); });
      source.addEventListener("ended", end);
      source.addEventListener("panels", function (e) { lastId = e.lastEventId || lastId; refreshPanels(); });
      source.addEventListener("incident", function (e) {
        lastId = e.lastEventId || lastId;
        var empty = document.querySelector(".empty"); if (empty) empty.remove();
        rows.insertAdjacentHTML("afterbegin", e.data);   // server-rendered, escaped by the template
        rows.firstElementChild.classList.add("new");
        alertNew("incident", rows.firstElementChild, e.lastEventId);
        refreshPanels();
      });
      // Help requests (issue 29): a row per call, replaced on a repeat, removed when the call ends.
      source.addEventListener("help", function (e) {
        lastId = e.lastEventId || lastId;
        if (!helpRows) return;
        var holder = document.createElement("tbody");
        holder.innerHTML = e.data;                        // server-rendered, escaped by the template
        var row = holder.firstElementChild;
        if (!row) return;
        var old = helpRow(row.dataset.call);
        if (old) old.replaceWith(row); else helpRows.appendChild(row);
        row.classList.add("new");
        alertNew("help", row, e.lastEventId);
      });
      source.addEventListener("help-end", function (e) {
        lastId = e.lastEventId || lastId;
        var old = helpRows && helpRow(e.data);
        if (old) old.remove();
      });
    }
    connect();
    setInterval(function () { if (!ended) refreshPanels(); }, 30000);   // the cool-downs' time left
    if (helpRows) setInterval(function () {             // how long each help call has lasted
      Array.prototype.forEach.call(helpRows.children, function (r) {
        var s = Math.max(0, Math.floor(Date.now() / 1000 - parseFloat(r.dataset.start))), m = Math.floor(s / 60);
        var cell = r.querySelector(".call-length");
        if (cell && isFinite(s)) cell.textContent = (m >= 60 ? Math.floor(m / 60) + ":" + ("0" + m % 60).slice(-2) : m) + ":" + ("0" + s % 60).slice(-2);
      });
    }, 1000);
  }
  // ---- end of the live board ----------------------------------------------------------------
  // ---- the board's alerts (issue 30): opt-in sound and desktop notification per user -------------
  // Only for events after the page's load (its ?after= id) and each event once: a stream that
  // resumes after a reconnect sends nothing already alerted. The notification says what the row
  // shows (category or "help", caller as shown), no more.
  function alerts(eventsUrl) {
    var form = document.getElementById("alerts");
    if (!form) return function () {};
    var sound = document.getElementById("alert-sound-on"), desktop = document.getElementById("alert-desktop-on");
    var audio = document.getElementById("alert-sound"), note = document.getElementById("alerts-state");
    var m = /after=([^&]*)/.exec(eventsUrl), heard = m ? decodeURIComponent(m[1]) : "", lastSound = 0;
    function later(a, b) {           // stream ids "ms-seq": whether a comes after b ("" or junk: a does)
      var x = String(a).split("-").map(Number), y = String(b).split("-").map(Number);
      if (y.length !== 2 || isNaN(y[0]) || isNaN(y[1])) return true;
      return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
    }
    function say(key) { note.textContent = key ? form.dataset[key] : ""; }
    function play() {
      audio.currentTime = 0;
      var p = audio.play();
      if (p && p.catch) p.catch(function () { say("blocked"); });   // no click on the page yet
    }
    function save() {
      var body = new URLSearchParams({ csrf: form.elements.csrf.value, js: "1",
        sound: sound.checked ? "1" : "", desktop: desktop.checked ? "1" : "" });
      fetch(form.action, { method: "POST", credentials: "same-origin", body: body }).catch(function () {});
    }
    if (!window.Notification) { desktop.disabled = true; desktop.checked = false; say("unsupported"); }
    else if (desktop.checked && Notification.permission === "denied") say("denied");
    sound.addEventListener("change", function () { if (sound.checked) play(); save(); });
    desktop.addEventListener("change", function () {
      say(null);
      if (!desktop.checked || Notification.permission === "granted") { save(); return; }
      // Asked only now, when the user switches it on (a click: the browser shows its question).
      Promise.resolve(Notification.requestPermission()).then(function (answer) {
        if (answer !== "granted") { desktop.checked = false; say("denied"); }
        save();
      });
    });
    document.addEventListener("click", function () { if (note.textContent === form.dataset.blocked) say(null); });
    return function (kind, row, id) {
      if (!id || !later(id, heard)) return;
      heard = id;
      if (sound.checked && Date.now() - lastSound > 1500) { lastSound = Date.now(); play(); }   // one per burst
      if (desktop.checked && window.Notification && Notification.permission === "granted") {
        var tag = row.querySelector(".tag"), cells = row.cells || [];
        var what = kind === "help" ? "" : (tag ? tag.textContent.trim() : "");
        var caller = cells[1] ? cells[1].textContent.trim() : "";
        new Notification(form.dataset[kind], { body: [what, caller].filter(Boolean).join(" · "), tag: kind + ":" + id });
      }
    };
  }
  var palette = ["#2f6f8f", "#d98c3a", "#b23b3b", "#5b8c5a", "#8e6bb8", "#7a8793", "#c9a227", "#4aa3a2"];
  function chart(id, type, labels, datasets, opts) {
    var el = document.getElementById(id);
    if (!el || !window.Chart) return;
    new window.Chart(el, { type: type, data: { labels: labels, datasets: datasets },
      options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: true,
        plugins: { legend: { position: "bottom" } } }, opts || {}) });
  }
  function series(byCat, labels) {
    return Object.keys(byCat).map(function (c, k) {
      return { label: c, data: labels.map(function (d) { return byCat[c][d] || 0; }), backgroundColor: palette[k % palette.length] };
    });
  }
  function stats() {
    var el = document.getElementById("stats-data");
    if (!el) return;
    var s = JSON.parse(el.textContent), stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } };
    chart("chart-day", "bar", s.days, series(s.per_day, s.days), stacked);
    var weeks = Array.from(new Set([].concat.apply([], Object.values(s.per_week).map(Object.keys)))).sort();
    chart("chart-week", "bar", weeks, series(s.per_week, weeks), stacked);
    var sk = Object.keys(s.screenings);
    chart("chart-screen", "doughnut", sk, [{ data: sk.map(function (k) { return s.screenings[k]; }), backgroundColor: palette }]);
    chart("chart-agent", "bar", s.per_agent.map(function (a) { return a[0]; }),
          [{ label: "incidents", data: s.per_agent.map(function (a) { return a[1]; }), backgroundColor: palette[0] }],
          { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });
    chart("chart-age", "bar", s.open_age.map(function (a) { return a[0]; }),
          [{ label: "open", data: s.open_age.map(function (a) { return a[1]; }), backgroundColor: palette[1] }],
          { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
  }
  function printButton() {
    var b = document.getElementById("print-button");
    if (b) b.addEventListener("click", function () { window.print(); });
  }
  document.addEventListener("DOMContentLoaded", function () { live(); stats(); printButton(); });
})();
