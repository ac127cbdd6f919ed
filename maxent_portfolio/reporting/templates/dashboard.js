(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-value");
    if (v === null) { v = cell.textContent.trim(); }
    if (v === "") { return null; }
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b));
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, col) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = key(r1.cells[col]), b = key(r2.cells[col]);
          if (a === null || b === null) { return (a === null) - (b === null); }
          return ascending ? compare(a, b) : compare(b, a);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var all = document.getElementById("show-all-metrics");
  if (all) {
    all.addEventListener("change", function () {
      document.getElementById("metrics-table").classList.toggle("all", all.checked);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-series]"), function (btn) {
    btn.addEventListener("click", function () {
      var series = btn.getAttribute("data-series");
      var show = btn.getAttribute("aria-pressed") === "false";
      var same = document.querySelectorAll('button[data-series="' + series + '"]');
      Array.prototype.forEach.call(same, function (b) {
        b.setAttribute("aria-pressed", show ? "true" : "false");
      });
      var marks = document.querySelectorAll('svg.chart [id$="-' + series + '"], ' +
                                            'svg.chart [id*="-' + series + '-"]');
      Array.prototype.forEach.call(marks, function (el) {
        el.style.display = show ? "" : "none";
      });
    });
  });
}());
