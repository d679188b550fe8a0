// Grenswacht console: the live board's event stream, the statistics charts, the letter's print button.
(function () {
  "use strict";
  function live() {
    var table = document.getElementById("live-table");
    if (!table || !window.EventSource) return;
    var rows = document.getElementById("live-rows"), dot = document.getElementById("live-dot");
    var source = new EventSource(table.dataset.events);
    source.onopen = function () { dot.classList.add("on"); };
    source.onerror = function () { dot.classList.remove("on"); };
    source.addEventListener("incident", function (e) {
      var empty = document.querySelector(".empty"); if (empty) empty.remove();
      rows.insertAdjacentHTML("afterbegin", e.data);   // server-rendered, escaped by the template
      rows.firstElementChild.classList.add("new");
    });
    // Help requests (issue 29): a row per call, replaced on a repeat, removed when the call ends.
    var helpRows = document.getElementById("help-rows");
    if (!helpRows) return;
    function helpRow(call) {
      return Array.prototype.find.call(helpRows.children, function (r) { return r.dataset.call === call; });
    }
    source.addEventListener("help", function (e) {
      var holder = document.createElement("tbody");
      holder.innerHTML = e.data;                        // server-rendered, escaped by the template
      var row = holder.firstElementChild;
      if (!row) return;
      var old = helpRow(row.dataset.call);
      if (old) old.replaceWith(row); else helpRows.appendChild(row);
      row.classList.add("new");
    });
    source.addEventListener("help-end", function (e) {
      var old = helpRow(e.data);
      if (old) old.remove();
    });
    setInterval(function () {                           // how long each call has lasted
      Array.prototype.forEach.call(helpRows.children, function (r) {
        var s = Math.max(0, Math.floor(Date.now() / 1000 - parseFloat(r.dataset.start))), m = Math.floor(s / 60);
        var cell = r.querySelector(".call-length");
        if (cell && isFinite(s)) cell.textContent = (m >= 60 ? Math.floor(m / 60) + ":" + ("0" + m % 60).slice(-2) : m) + ":" + ("0" + s % 60).slice(-2);
      });
    }, 1000);
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
