// The dashboard's charts: Chart.js (assets/vendor, from npm) draws the data
// the page carries in <script type="application/json" id="chart-data">,
// which is data, never run. The tables under the charts are their
// accessible alternative and hold the same numbers.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("chart-data");
  if (!el || typeof window.Chart === "undefined") { return; }
  var data;
  try {
    data = JSON.parse(el.textContent);
  } catch (e) {
    return; // no charts; the tables still show the numbers
  }
  var colors = ["#2454d6", "#137a3a", "#c2410c", "#7c3aed", "#0e7490", "#b3261e"];

  function draw(id, s) {
    var canvas = document.getElementById(id);
    if (!canvas || !s || !s.labels) { return; }
    var money = false;
    var datasets = s.datasets.map(function (d, i) {
      var isMoney = d.axis === "money";
      money = money || isMoney;
      return {
        label: d.label,
        data: d.data,
        yAxisID: isMoney ? "money" : "count",
        type: isMoney ? "line" : "bar",
        borderColor: colors[i % colors.length],
        backgroundColor: colors[i % colors.length] + (isMoney ? "" : "99"),
        borderWidth: isMoney ? 2 : 1,
        pointRadius: s.labels.length > 40 ? 0 : 2,
        tension: 0
      };
    });
    var scales = { count: { type: "linear", position: "left", beginAtZero: true, ticks: { precision: 0 } } };
    if (money) {
      scales.money = { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } };
    }
    // Bars for counts, straight lines for money (a curve would invent
    // values between days); traffic is lines only.
    if (id === "chart-traffic") {
      datasets.forEach(function (d) { d.type = "line"; d.backgroundColor = d.borderColor; });
    }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: s.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  draw("chart-traffic", data.traffic);
  draw("chart-conversions", data.conversions);
});
