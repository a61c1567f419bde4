/* Draws the dashboard's charts from the JSON the server put in #chart-data (Chart.js, kept in
   the repository). No inline scripts: the pages' Content-Security-Policy forbids them. */
(function () {
  "use strict";

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  var holder = document.getElementById("chart-data");
  if (!holder || !window.Chart) { return; }
  var data = JSON.parse(holder.getAttribute("data-json"));
  var text = data.text;  // the page's language: strings from the server's catalog
  var lang = document.documentElement.lang || "en";
  var oneDecimal = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var signedDecimal = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: "exceptZero" });
  var signedWhole = new Intl.NumberFormat(lang, { maximumFractionDigits: 0, signDisplay: "exceptZero" });
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }
  var css = getComputedStyle(document.documentElement);
  function color(name) { return css.getPropertyValue(name).trim(); }
  var ink = color("--ink"), muted = color("--muted"), grid = color("--grid");
  var promoter = color("--promoter"), passive = color("--passive"), detractor = color("--detractor");
  var accent = color("--accent");

  Chart.defaults.font.family = css.getPropertyValue("font-family");
  Chart.defaults.font.size = 13;
  Chart.defaults.color = muted;
  Chart.defaults.borderColor = grid;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;

  var charts = [];
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { charts.push(new Chart(canvas, config)); }
  }
  function signed(value) { return signedDecimal.format(value); }

  if (data.weeks) {
    var weeks = data.weeks;
    var upper = weeks.map(function (w) { return w.nps === null || w.moe === null ? null : Math.min(100, w.nps + w.moe); });
    var lower = weeks.map(function (w) { return w.nps === null || w.moe === null ? null : Math.max(-100, w.nps - w.moe); });
    draw("chart-nps", {
      type: "line",
      data: {
        labels: weeks.map(function (w) { return w.label; }),
        datasets: [
          { label: "upper bound", data: upper, borderWidth: 0, pointRadius: 0, fill: false, spanGaps: true },
          { label: text.band, data: lower, borderWidth: 0, pointRadius: 0, spanGaps: true,
            fill: "-1", backgroundColor: color("--band") },
          { label: text.nps, data: weeks.map(function (w) { return w.nps; }), borderColor: accent,
            backgroundColor: accent, borderWidth: weeks.length > 20 ? 2 : 3, pointRadius: weeks.length > 20 ? 2 : 4,
            pointHoverRadius: 6, cubicInterpolationMode: "monotone",
            spanGaps: true }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { suggestedMin: -20, suggestedMax: 60, ticks: { callback: function (v) { return signedWhole.format(v); } },
               grid: { color: function (c) { return c.tick.value === 0 ? muted : grid; } } },
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 16 } }
        },
        plugins: {
          legend: { labels: { filter: function (item) { return item.text !== "upper bound"; } } },
          tooltip: {
            filter: function (item) { return item.datasetIndex === 2; },
            callbacks: {
              title: function (items) { return fill(text.week_of, { week: items[0].label }); },
              label: function (item) {
                var w = weeks[item.dataIndex];
                return text.nps + " " + signed(w.nps) + (w.moe === null ? "" : " ± " + oneDecimal.format(w.moe)) + " (n = " + w.n + ")";
              }
            }
          }
        }
      }
    });
  }

  if (data.segments) {
    var segmentColors = { at_risk: detractor, untapped: passive, champion: promoter, nurture: accent, maintain: muted };
    draw("chart-segments", {
      type: "bar",
      data: {
        labels: data.segments.map(function (s) { return s.label; }),
        datasets: [{ label: text.contacts, data: data.segments.map(function (s) { return s.count; }),
          backgroundColor: data.segments.map(function (s) { return segmentColors[s.name] || accent; }),
          borderRadius: 4 }]
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false }, ticks: { color: ink } } }
      }
    });
  }

  if (data.accounts) {
    var points = data.accounts;
    // Names beside the points, skipping any that would cover another point or name (the
    // tooltip and the table below the chart still name every account).
    var labels = {
      id: "pointLabels",
      afterDatasetsDraw: function (chart) {
        var ctx = chart.ctx, meta = chart.getDatasetMeta(0), area = chart.chartArea;
        var taken = meta.data.map(function (e) {
          var r = e.options.radius || 6;
          return { l: e.x - r, r: e.x + r, t: e.y - r, b: e.y + r };
        });
        ctx.save();
        ctx.font = "12px " + Chart.defaults.font.family;
        ctx.fillStyle = ink;
        ctx.textBaseline = "middle";
        meta.data.forEach(function (element, i) {
          var text = points[i].label, width = ctx.measureText(text).width;
          var r = (element.options.radius || 6) + 4;
          // Right of the point, left of it, above, below: the first place that is free.
          var places = [[element.x + r, element.y], [element.x - r - width, element.y],
                        [element.x - width / 2, element.y - r - 4], [element.x - width / 2, element.y + r + 4]];
          for (var k = 0; k < places.length; k++) {
            var x = places[k][0], y = places[k][1];
            var box = { l: x - 2, r: x + width + 2, t: y - 8, b: y + 8 };
            var inside = box.l >= area.left && box.r <= area.right && box.t >= area.top - 12 && box.b <= area.bottom;
            var clash = taken.some(function (o) { return box.l < o.r && box.r > o.l && box.t < o.b && box.b > o.t; });
            if (inside && !clash) {
              taken.push(box);
              ctx.textAlign = "left";
              ctx.fillText(text, x, y);
              return;
            }
          }
        });
        ctx.restore();
      }
    };
    draw("chart-accounts", {
      type: "bubble",
      data: {
        datasets: [{
          label: text.accounts,
          // Point area: the account's revenue (within its currency) or, before any revenue
          // is read, its number of responses.
          data: points.map(function (p) {
            var r = data.size_by === "revenue" ? 5 + 20 * p.size : 5 + 3 * Math.sqrt(p.n);
            return { x: p.x, y: p.y, r: r };
          }),
          backgroundColor: points.map(function (p) {
            return p.x < 0 ? color("--detractor-soft") : (p.y < 7 ? color("--passive-soft") : color("--promoter-soft"));
          }),
          borderColor: points.map(function (p) { return p.x < 0 ? detractor : (p.y < 7 ? passive : promoter); }),
          borderWidth: 1.5,
          clip: false
        }]
      },
      options: {
        layout: { padding: { top: 14, right: 14, left: 4 } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (item) {
            var p = points[item.dataIndex];
            var line = fill(text.account_point, { account: p.label, nps: signed(p.x), relationship: oneDecimal.format(p.y), responses: p.n });
            return p.revenue_text ? line + " · " + fill(text.account_revenue, { revenue: p.revenue_text }) : line;
          } } }
        },
        scales: {
          x: { min: -100, max: 100, title: { display: true, text: text.customer_nps, color: ink },
               grid: { color: function (c) { return c.tick.value === 0 ? muted : grid; } } },
          y: { min: 0, max: 10, title: { display: true, text: text.employee_relationship, color: ink },
               grid: { color: function (c) { return c.tick.value === 7 ? muted : grid; } } }
        }
      },
      plugins: [labels]
    });
  }

  window.cx360Charts = charts;
  window.addEventListener("beforeprint", function () { charts.forEach(function (c) { c.resize(); }); });
  window.addEventListener("afterprint", function () { charts.forEach(function (c) { c.resize(); }); });
})();
