// The Metrics page: reads /charts/data every few seconds and draws it with uPlot.
// When a drawing is done, #charts gets data-state="drawn" and the document a "charts:drawn"
// event carrying the figures drawn (tests wait for either).
(() => {
  "use strict";
  const REFRESH_MS = 5000;
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#64748b"];
  const plots = {};
  let timer = null;

  function seriesKey(names) {
    return names.join("|");
  }

  function draw(id, xs, named, yLabel) {
    const el = document.getElementById(id);
    const names = Object.keys(named);
    const data = [xs, ...names.map((name) => named[name])];
    const key = seriesKey(names);
    const existing = plots[id];
    if (existing && existing.key === key) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    const opts = {
      width: Math.max(el.clientWidth, 320),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: yLabel }],
      series: [{}, ...names.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false }))],
    };
    plots[id] = { key, plot: new uPlot(opts, data, el) };
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function rows(tbodyId, list) {
    const body = document.getElementById(tbodyId);
    body.replaceChildren(
      ...list.map((values) => {
        const tr = document.createElement("tr");
        values.forEach((value, i) => {
          if (i === 0) {
            const th = document.createElement("th");
            th.textContent = value;
            tr.append(th);
          } else {
            tr.append(cell(value));
          }
        });
        return tr;
      }),
    );
  }

  function figure(name, value) {
    document.querySelectorAll(`[data-figure="${name}"]`).forEach((el) => {
      el.textContent = String(value);
    });
  }

  function render(data) {
    const root = document.getElementById("charts");
    const xs = data.minutes;
    draw("chart-throughput", xs, { started: data.throughput.started, ended: data.throughput.ended }, "per minute");
    const failures = {};
    Object.entries(data.failure_rate).forEach(([service, f]) => {
      failures[service] = f.series;
    });
    draw("chart-failures", xs, failures, "failed / attempts");
    draw(
      "chart-backlog",
      xs,
      { "outbox unpublished": data.backlog.outbox_unpublished, "waiting for an operator": data.backlog.waiting_for_operator },
      "count",
    );
    figure("started_total", data.throughput.started_total);
    figure("ended_total", data.throughput.ended_total);
    figure("outbox_unpublished", data.backlog.now.outbox_unpublished);
    figure("waiting_for_operator", data.backlog.now.waiting_for_operator);
    rows(
      "failure-rows",
      Object.entries(data.failure_rate).map(([service, f]) => [service, f.failed, f.attempts, f.rate.toFixed(4)]),
    );
    rows(
      "latency-rows",
      Object.entries(data.latency_ms).map(([step, l]) => [step, l.n, l.p50, l.p95, l.p99]),
    );
    document.getElementById("charts-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    root.dataset.state = "drawn";
    root.dataset.range = data.range;
    document.dispatchEvent(new CustomEvent("charts:drawn", { detail: data }));
  }

  async function refresh() {
    const root = document.getElementById("charts");
    const range = document.getElementById("charts-range").value;
    clearTimeout(timer);
    try {
      const response = await fetch(`${root.dataset.url}?range=${encodeURIComponent(range)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
    } catch (error) {
      root.dataset.state = "error";
      document.getElementById("charts-updated").textContent = `could not load the figures (${error.message})`;
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function start() {
    if (!document.getElementById("charts")) return;
    document.getElementById("charts-range").addEventListener("change", (event) => {
      const url = new URL(window.location.href);
      url.searchParams.set("range", event.target.value);
      history.replaceState(null, "", url);
      refresh();
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
