/* The lineage graph: nodes and edges come from the page (a json_script element written by
   registry/console/lineage.py); this lays them out in columns (inputs on the left, outputs on
   the right) and draws them as SVG. A node is a link: click it, or focus it with Tab and
   press Enter, to open its page. */
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var NODE_WIDTH = 210, NODE_HEIGHT = 54, COLUMN_GAP = 90, ROW_GAP = 22, PAD = 24;
  var LABEL_CHARS = 27;

  function svg(name, attrs, parent) {
    var element = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { element.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(element);
    return element;
  }

  function clip(text, size) {
    return text.length > size ? text.slice(0, size - 1) + "\u2026" : text;
  }

  // Column of each node: the longest path from a node without inputs (a cycle, which
  // lineage should never hold, is cut where it closes).
  function ranks(nodes, edges) {
    var inputs = {}, rank = {};
    nodes.forEach(function (node) { inputs[node.id] = []; });
    edges.forEach(function (edge) {
      if (inputs[edge.target]) inputs[edge.target].push(edge.source);
    });
    function rankOf(id, open) {
      if (id in rank) return rank[id];
      if (open[id]) return 0;
      open[id] = true;
      var best = 0;
      inputs[id].forEach(function (source) {
        if (source in inputs) best = Math.max(best, rankOf(source, open) + 1);
      });
      delete open[id];
      rank[id] = best;
      return best;
    }
    nodes.forEach(function (node) { rankOf(node.id, {}); });
    return rank;
  }

  function layout(nodes, edges) {
    var rank = ranks(nodes, edges), columns = [], position = {};
    nodes.forEach(function (node) {
      var column = rank[node.id];
      (columns[column] = columns[column] || []).push(node);
    });
    columns = columns.filter(Boolean);
    var inputs = {};
    edges.forEach(function (edge) { (inputs[edge.target] = inputs[edge.target] || []).push(edge.source); });
    var tallest = Math.max.apply(null, columns.map(function (column) { return column.length; }));
    var height = tallest * (NODE_HEIGHT + ROW_GAP) - ROW_GAP;
    columns.forEach(function (column, index) {
      // Keep a node near the nodes it came from (mean row of its inputs), then by label.
      column.forEach(function (node) {
        var rows = (inputs[node.id] || []).filter(function (id) { return id in position; })
          .map(function (id) { return position[id].row; });
        node._order = rows.length ? rows.reduce(function (a, b) { return a + b; }, 0) / rows.length : Infinity;
      });
      column.sort(function (a, b) {
        return a._order === b._order ? a.label.localeCompare(b.label) : a._order - b._order;
      });
      var offset = (height - (column.length * (NODE_HEIGHT + ROW_GAP) - ROW_GAP)) / 2;
      column.forEach(function (node, row) {
        position[node.id] = {
          x: PAD + index * (NODE_WIDTH + COLUMN_GAP),
          y: PAD + offset + row * (NODE_HEIGHT + ROW_GAP),
          row: row
        };
      });
    });
    return {
      position: position,
      width: PAD * 2 + columns.length * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP,
      height: PAD * 2 + height
    };
  }

  function draw(frame, data) {
    var placed = layout(data.nodes, data.edges);
    var root = svg("svg", {
      width: placed.width, height: placed.height,
      viewBox: "0 0 " + placed.width + " " + placed.height,
      role: "group", "aria-label": frame.getAttribute("data-label") || "lineage"
    });
    var defs = svg("defs", {}, root);
    var marker = svg("marker", {
      id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"
    }, defs);
    svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa5b8" }, marker);

    var edgeLayer = svg("g", {}, root), nodeLayer = svg("g", {}, root), edgesOf = {};
    data.edges.forEach(function (edge) {
      var from = placed.position[edge.source], to = placed.position[edge.target];
      if (!from || !to) return;
      var x1 = from.x + NODE_WIDTH, y1 = from.y + NODE_HEIGHT / 2;
      var x2 = to.x, y2 = to.y + NODE_HEIGHT / 2, bend = Math.max(40, (x2 - x1) / 2);
      var path = svg("path", {
        "class": "graph-edge",
        d: "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 + " " + x2 + "," + y2,
        "marker-end": "url(#arrow)"
      }, edgeLayer);
      svg("title", {}, path).textContent = edge.relation;
      [edge.source, edge.target].forEach(function (id) { (edgesOf[id] = edgesOf[id] || []).push(path); });
    });

    data.nodes.forEach(function (node) {
      var at = placed.position[node.id];
      var kind = data.kinds[node.type] || node.type;
      var group = svg("g", {
        "class": "graph-node type-" + node.type + (node.start ? " start" : ""),
        transform: "translate(" + at.x + "," + at.y + ")",
        tabindex: "0", role: "link",
        "aria-label": kind + ": " + node.label + (node.detail ? " (" + node.detail + ")" : ""),
        "data-node": node.id
      }, nodeLayer);
      svg("title", {}, group).textContent = kind + ": " + node.label;
      svg("rect", { width: NODE_WIDTH, height: NODE_HEIGHT, rx: 8 }, group);
      svg("text", { "class": "kind", x: 12, y: 20 }, group).textContent =
        kind + (node.detail ? " \u00b7 " + node.detail : "");
      svg("text", { x: 12, y: 40 }, group).textContent = clip(node.label, LABEL_CHARS);
      function open() { window.location.assign(node.url); }
      function light(on) {
        (edgesOf[node.id] || []).forEach(function (path) { path.classList.toggle("lit", on); });
      }
      group.addEventListener("click", open);
      group.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); }
      });
      group.addEventListener("mouseenter", function () { light(true); });
      group.addEventListener("mouseleave", function () { light(false); });
      group.addEventListener("focus", function () { light(true); });
      group.addEventListener("blur", function () { light(false); });
    });
    frame.replaceChildren(root);
    var start = root.querySelector(".graph-node.start");
    if (start && frame.scrollWidth > frame.clientWidth) {
      var box = placed.position[start.getAttribute("data-node")];
      frame.scrollLeft = Math.max(0, box.x - frame.clientWidth / 2 + NODE_WIDTH / 2);
    }
  }

  function init() {
    var frame = document.getElementById("lineage-graph");
    var source = document.getElementById("lineage-data");
    if (!frame || !source) return;
    draw(frame, JSON.parse(source.textContent));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
