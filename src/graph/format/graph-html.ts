/**
 * `kiln graph --format html`: one self-contained page (no CDN, no network) drawing the DAG with
 * each node's last-build status, duration and outputs; drag to pan, wheel to zoom, a search box,
 * and a click on a node shows its details. Layout by @dagrejs/dagre, whose browser build the
 * caller passes in (`layoutLibrary`) and the page inlines. Pure: strings in, a page out.
 */
import type { GraphView } from "./graph-view.js";
import { STATUS_COLOURS } from "./graph-text.js";

/** JSON safe inside <script>: no "</script>", no "<!--". */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function toHtml(view: GraphView, options: { title: string; layoutLibrary: string }): string {
  // The library's own text must not end the script element either.
  const library = options.layoutLibrary.replace(/<\/script/gi, "<\\/script");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>${escapeHtml(options.title)}</title>
<style>
  html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, sans-serif; color: #222; }
  #bar { position: fixed; top: 0; left: 0; right: 0; height: 40px; display: flex; gap: 12px; align-items: center; padding: 0 12px; background: #fafafa; border-bottom: 1px solid #ddd; z-index: 2; }
  #bar h1 { font-size: 14px; margin: 0; font-weight: 600; }
  #search { width: 260px; padding: 4px 8px; }
  .legend span { display: inline-block; padding: 1px 6px; margin-right: 4px; border: 1px solid #999; border-radius: 3px; }
  #canvas { position: fixed; top: 41px; left: 0; width: 100%; height: calc(100% - 41px); cursor: grab; display: block; }
  #canvas.dragging { cursor: grabbing; }
  .node rect { stroke: #555; stroke-width: 1; rx: 6; }
  .node.requested rect { stroke-width: 2.5; }
  .node text { font-size: 12px; pointer-events: none; }
  .node text.caption { fill: #555; font-size: 11px; }
  .node { cursor: pointer; }
  .node.dim { opacity: 0.25; }
  .node.match rect { stroke: #d35400; stroke-width: 3; }
  .node.selected rect { stroke: #1f5fbf; stroke-width: 3; }
  .edge { fill: none; stroke: #888; stroke-width: 1.2; }
  #details { position: fixed; right: 12px; top: 52px; width: 340px; max-height: calc(100% - 70px); overflow: auto; background: #fff; border: 1px solid #ccc; border-radius: 6px; padding: 10px 12px; box-shadow: 0 2px 8px rgba(0,0,0,.15); display: none; z-index: 3; }
  #details h2 { font-size: 14px; margin: 0 0 6px; word-break: break-all; }
  #details dt { font-weight: 600; margin-top: 6px; }
  #details dd { margin: 0; word-break: break-all; }
  #details button { float: right; }
</style>
</head>
<body>
<div id="bar">
  <h1>${escapeHtml(options.title)}</h1>
  <input id="search" type="search" placeholder="search labels (Enter: go to the first)" aria-label="search labels">
  <span id="count"></span>
  <span class="legend">${Object.entries(STATUS_COLOURS)
    .map(([status, colour]) => `<span style="background:${colour}">${status}</span>`)
    .join("")}</span>
  <button id="fit" type="button">fit</button>
</div>
<svg id="canvas" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="the build graph">
  <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>
  <g id="viewport"></g>
</svg>
<div id="details" role="dialog" aria-live="polite"></div>
<script id="kiln-graph" type="application/json">${scriptJson(view)}</script>
<script>${library}</script>
<script>
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("kiln-graph").textContent);
  var colours = ${scriptJson(STATUS_COLOURS)};
  var svgNs = "http://www.w3.org/2000/svg";
  var viewport = document.getElementById("viewport");
  var canvas = document.getElementById("canvas");
  var details = document.getElementById("details");
  var byLabel = {};
  function caption(node) { return node.rule + ": " + node.status + (node.ms !== null ? ", " + (node.ms / 1000).toFixed(2) + "s" : ""); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(svgNs, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  var g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 70, marginx: 30, marginy: 30 });
  g.setDefaultEdgeLabel(function () { return {}; });
  data.nodes.forEach(function (node) {
    byLabel[node.label] = node;
    var chars = Math.max(node.label.length, caption(node).length);
    g.setNode(node.label, { width: Math.max(120, chars * 7 + 20), height: 42 });
  });
  data.edges.forEach(function (edge) { g.setEdge(edge.from, edge.to); });
  dagre.layout(g);
  g.edges().forEach(function (e) {
    var points = g.edge(e).points;
    var d = points.map(function (p, i) { return (i === 0 ? "M" : "L") + p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" ");
    el("path", { "class": "edge", d: d, "marker-end": "url(#arrow)", "data-from": e.v, "data-to": e.w }, viewport);
  });
  var shapes = {};
  g.nodes().forEach(function (label) {
    var box = g.node(label);
    var node = byLabel[label];
    var group = el("g", { "class": "node" + (node.requested ? " requested" : ""), "data-label": label, "data-status": node.status, transform: "translate(" + (box.x - box.width / 2) + "," + (box.y - box.height / 2) + ")" }, viewport);
    el("rect", { width: box.width, height: box.height, fill: colours[node.status] }, group);
    el("text", { x: 10, y: 17 }, group).textContent = label;
    el("text", { "class": "caption", x: 10, y: 33 }, group).textContent = caption(node);
    el("title", {}, group).textContent = label + "\\n" + caption(node);
    group.addEventListener("click", function (event) { event.stopPropagation(); select(label); });
    shapes[label] = group;
  });
  document.getElementById("count").textContent = data.nodes.length + " targets, " + data.edges.length + " edges";

  // Pan and zoom: one transform on the viewport group.
  var view = { x: 0, y: 0, k: 1 };
  function apply() { viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }
  function fit() {
    var size = g.graph();
    var rect = canvas.getBoundingClientRect(), w = rect.width || 800, h = rect.height || 600;
    view.k = Math.min(2, Math.min(w / (size.width || 1), h / (size.height || 1)) * 0.95);
    view.x = (w - (size.width || 0) * view.k) / 2;
    view.y = (h - (size.height || 0) * view.k) / 2;
    apply();
  }
  function centerOn(label) {
    var box = g.node(label);
    var rect = canvas.getBoundingClientRect(), w = rect.width || 800, h = rect.height || 600;
    view.k = Math.max(view.k, 1);
    view.x = w / 2 - box.x * view.k;
    view.y = h / 2 - box.y * view.k;
    apply();
  }
  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    var factor = Math.exp(-event.deltaY * 0.0015);
    var rect = canvas.getBoundingClientRect();
    var px = event.clientX - rect.left, py = event.clientY - rect.top;
    var k = Math.min(8, Math.max(0.05, view.k * factor));
    view.x = px - (px - view.x) * (k / view.k);
    view.y = py - (py - view.y) * (k / view.k);
    view.k = k;
    apply();
  }, { passive: false });
  var drag = null;
  canvas.addEventListener("mousedown", function (event) { drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false }; canvas.classList.add("dragging"); });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    view.x = drag.vx + event.clientX - drag.x;
    view.y = drag.vy + event.clientY - drag.y;
    if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > 3) drag.moved = true;
    apply();
  });
  window.addEventListener("mouseup", function () { drag = null; canvas.classList.remove("dragging"); });
  canvas.addEventListener("click", function () { if (!drag || !drag.moved) close(); });
  document.getElementById("fit").addEventListener("click", fit);

  function row(term, value) { return "<dt>" + term + "</dt><dd>" + value + "</dd>"; }
  function esc(text) { return String(text).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function list(items) { return items.length === 0 ? "none" : items.map(esc).join("<br>"); }
  function select(label) {
    var node = byLabel[label];
    Object.keys(shapes).forEach(function (other) { shapes[other].classList.toggle("selected", other === label); });
    var dependants = data.edges.filter(function (e) { return e.from === label; }).map(function (e) { return e.to; });
    details.innerHTML = '<button type="button" id="close" aria-label="close">×</button><h2>' + esc(label) + "</h2><dl>" +
      row("status", esc(node.status)) +
      row("duration", node.ms !== null ? (node.ms / 1000).toFixed(2) + " s" : "not known") +
      row("rule", esc(node.rule)) +
      row("declared", esc(node.declared)) +
      row("outputs", list(node.outputs)) +
      row("depends on", list(node.deps)) +
      row("used by", list(dependants)) + "</dl>";
    details.style.display = "block";
    details.setAttribute("data-label", label);
    document.getElementById("close").addEventListener("click", close);
  }
  function close() {
    details.style.display = "none";
    details.removeAttribute("data-label");
    Object.keys(shapes).forEach(function (other) { shapes[other].classList.remove("selected"); });
  }
  var search = document.getElementById("search");
  function matches() {
    var q = search.value.trim().toLowerCase();
    return q === "" ? [] : Object.keys(shapes).filter(function (label) { return label.toLowerCase().indexOf(q) >= 0; }).sort();
  }
  search.addEventListener("input", function () {
    var found = matches();
    var any = search.value.trim() !== "";
    Object.keys(shapes).forEach(function (label) {
      var hit = found.indexOf(label) >= 0;
      shapes[label].classList.toggle("match", any && hit);
      shapes[label].classList.toggle("dim", any && !hit);
    });
    document.getElementById("count").textContent = any ? found.length + " of " + data.nodes.length + " match" : data.nodes.length + " targets, " + data.edges.length + " edges";
  });
  search.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    var found = matches();
    if (found.length > 0) { centerOn(found[0]); select(found[0]); }
  });
  fit();
  window.addEventListener("resize", fit);
  document.body.setAttribute("data-ready", "true");
})();
</script>
</body>
</html>
`;
}
