// The web UI's behaviour (the CSP allows no inline script): local times, questions
// before destructive actions, pages that refresh themselves, the dashboard's charts
// (uPlot) and the conversation map (Cytoscape.js), both served by the hub.
"use strict";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
function size(n) {
  if (n == null || isNaN(n)) return "";
  let u = 0;
  while (Math.abs(n) >= 1024 && u < UNITS.length - 1) { n /= 1024; u++; }
  if (u === 0) return (Math.abs(n) < 10 && n % 1 ? Number(n.toPrecision(2)) : Math.round(n)) + " B";
  return n.toFixed(1) + " " + UNITS[u];
}
const pad = (n) => String(n).padStart(2, "0");
function local(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Every <time datetime="…Z">: the reader's local time, the UTC value on hover.
function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.textContent = local(d); t.title = t.getAttribute("datetime").replace("T", " ").replace("Z", " UTC"); }
  }
}

// A form with data-confirm asks before it is sent.
function confirmations() {
  document.addEventListener("submit", (e) => {
    const q = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { e.preventDefault(); }
  });
}

// <body data-refresh="N">: reload every N seconds unless the reader is typing.
function refresh() {
  const every = Number(document.body.dataset.refresh || 0);
  const shown = document.getElementById("updated");
  if (shown) shown.textContent = "updated " + local(new Date()).slice(11);
  if (!every) return;
  let touched = false;
  document.addEventListener("input", () => { touched = true; });
  setInterval(() => {
    const a = document.activeElement;
    const typing = a && ["INPUT", "SELECT", "TEXTAREA"].includes(a.tagName);
    if (!touched && !typing && document.visibilityState === "visible") window.location.reload();
  }, every * 1000);
}

function data(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

const COLOURS = ["#2f6fb3", "#d9822b", "#3a9a5b", "#b0413e", "#7a5cb0", "#8c6d31", "#c75fa0", "#5b6577"];

// One uPlot chart: x in seconds since the epoch (a linear time axis), one y axis with its unit.
function chart(el, times, series, unit, format) {
  if (!window.uPlot || !times.length || !series.length) {
    el.textContent = (el.dataset.title || "") + ": no data in this window.";
    el.classList.add("empty");
    return;
  }
  // The card's content box: clientWidth counts its padding too, and a chart that wide
  // ran past the card's edge.
  const style = getComputedStyle(el);
  const inner = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const width = Math.max(280, inner || 600);
  const opts = {
    width, height: 220, title: el.dataset.title,
    scales: { x: { time: true } },
    axes: [
      { label: "time (local)" },
      { label: unit, size: 70, values: (u, vals) => vals.map(format) },
    ],
    series: [{ label: "time", value: (u, v) => v == null ? "" : local(new Date(v * 1000)) },
      ...series.map((s, i) => ({ label: s.name, stroke: COLOURS[i % COLOURS.length], width: 1.5,
        points: { show: s.values.filter((v) => v != null).length < 30 },  // sparse: dots
        value: (u, v) => v == null ? "" : format(v), spanGaps: false }))],
  };
  const u = new window.uPlot(opts, [times, ...series.map((s) => s.values)], el);
  (window.hubCharts = window.hubCharts || []).push({ kind: el.dataset.chart, unit, u });
}

function dashboard() {
  const d = data("dashboard-data");
  if (!d) return;
  const charts = document.querySelectorAll("[data-chart]");
  const rate = (v) => size(v) + "/s";
  const plain = (v) => (v == null ? "" : Number(v).toLocaleString());
  const pct = (v) => (v == null ? "" : Number(v).toFixed(0) + " %");
  for (const el of charts) {
    const kind = el.dataset.chart;
    if (kind === "traffic") chart(el, d.traffic.times, d.traffic.series, "bytes/s", rate);
    if (kind === "assets") chart(el, d.inventory.times, [{ name: "active", values: d.inventory.active }, { name: "new", values: d.inventory.new }], "assets", plain);
    const h = d.health;
    if (kind === "pps") chart(el, h.times, h.sensors.map((s) => ({ name: s.name, values: s.pps })), "packets/s", plain);
    if (kind === "drops") chart(el, h.times, h.sensors.map((s) => ({ name: s.name, values: s.drops })), "packets dropped", plain);
    if (kind === "cpu") chart(el, h.times, h.sensors.map((s) => ({ name: s.name, values: s.cpu })), "CPU %", pct);
    if (kind === "memory") chart(el, h.times, h.sensors.map((s) => ({ name: s.name, values: s.memory })), "memory %", pct);
  }
}

const TYPE_COLOURS = { workstation: "#2f6fb3", server: "#7a5cb0", switch: "#d9822b", router: "#b0413e",
  "virtual machine": "#5b8fd0", PLC: "#3a9a5b", printer: "#8c6d31", phone: "#c75fa0", "": "#9aa3b2" };

function conversationMap() {
  const g = data("map-data");
  const el = document.getElementById("map");
  if (!g || !el || !window.cytoscape) return;
  if (!g.nodes.length) { el.textContent = "No traffic between these assets."; return; }
  const top = Math.max(...g.edges.map((e) => e.bytes), 1);
  const elements = [
    ...g.nodes.map((n) => ({ data: { id: n.id, label: n.label, type: n.device_type || "", asset: n.asset,
      colour: TYPE_COLOURS[n.device_type || ""] || "#5b6577", chosen: n.chosen ? 1 : 0 } })),
    ...g.edges.map((e, i) => ({ data: { id: "e" + i, source: e.source, target: e.target,
      w: 1 + 7 * Math.sqrt(e.bytes / top), title: size(e.bytes) } })),
  ];
  const cy = window.cytoscape({
    container: el, elements, wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: { "background-color": "data(colour)", label: "data(label)", "font-size": 9, width: 14, height: 14 } },
      { selector: "node[chosen = 1]", style: { "border-width": 2, "border-color": "#1d2430" } },
      { selector: "edge", style: { width: "data(w)", "line-color": "#9aa3b2", opacity: 0.7, "curve-style": "haystack" } },
      { selector: ":selected", style: { "background-color": "#ffb000", "line-color": "#ffb000" } },
    ],
    layout: { name: g.nodes.length > 150 ? "concentric" : "cose", animate: false, nodeDimensionsIncludeLabels: true },
  });
  cy.on("tap", "node", (e) => {
    const picked = document.getElementById("picked");
    const a = e.target.data("asset");
    picked.replaceChildren();
    const link = document.createElement(a ? "a" : "span");
    if (a) link.href = "/assets/" + Number(a);
    link.textContent = e.target.data("label");  // text from the network: never markup
    picked.append(link, " (" + (e.target.data("type") || "type unknown") + ")");
  });
  window.hubMap = cy;
  const legend = document.getElementById("legend");
  for (const type of [...new Set(g.nodes.map((n) => n.device_type || ""))].sort()) {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.className = "dot";
    dot.style.backgroundColor = TYPE_COLOURS[type] || "#5b6577";  // CSSOM: allowed by the CSP
    item.append(dot, type || "not an asset / unknown");
    legend.append(item);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  confirmations();
  refresh();
  dashboard();
  conversationMap();
});
