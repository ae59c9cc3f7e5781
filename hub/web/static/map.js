/* Maps without tiles: labs, makers and flows drawn to scale in SVG (local equirectangular
   projection, km grid, scale bar). Nothing is fetched; a click gives back lat/lon. */
"use strict";
function cofabMap(svg, options = {}) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 600, H = 360, PAD = 28;
  const KM_PER_DEG_LAT = 110.574;
  let view = null;   // {lat0, lon0, kx, scale, cx, cy, bounds}
  let state = {labs: [], maker: null, flows: []};

  function node(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function pointsOf(s) {
    const pts = s.labs.map(l => [l.lat, l.lon]);
    if (s.maker) pts.push([s.maker.lat, s.maker.lon]);
    for (const f of s.flows || []) { pts.push([f.from.lat, f.from.lon]); pts.push([f.to.lat, f.to.lon]); }
    return pts.filter(p => isFinite(p[0]) && isFinite(p[1]));
  }

  function inside(b, p) { return p[0] >= b.minLat && p[0] <= b.maxLat && p[1] >= b.minLon && p[1] <= b.maxLon; }

  function fit(pts) {
    if (!pts.length) pts = [[0, 0]];
    let minLat = Math.min(...pts.map(p => p[0])), maxLat = Math.max(...pts.map(p => p[0]));
    let minLon = Math.min(...pts.map(p => p[1])), maxLon = Math.max(...pts.map(p => p[1]));
    const lat0 = (minLat + maxLat) / 2, lon0 = (minLon + maxLon) / 2;
    const kx = Math.cos(lat0 * Math.PI / 180) * 111.32;
    let spanX = Math.max((maxLon - minLon) * kx, 2), spanY = Math.max((maxLat - minLat) * KM_PER_DEG_LAT, 2);
    spanX *= 1.3; spanY *= 1.3;   // room around the outermost points
    const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);   // px per km
    const halfLat = (H / 2) / scale / KM_PER_DEG_LAT, halfLon = (W / 2) / scale / kx;
    view = {lat0, lon0, kx, scale, bounds: {minLat: lat0 - halfLat * 0.9, maxLat: lat0 + halfLat * 0.9,
                                            minLon: lon0 - halfLon * 0.9, maxLon: lon0 + halfLon * 0.9}};
  }

  function xy(lat, lon) {
    return [W / 2 + (lon - view.lon0) * view.kx * view.scale, H / 2 - (lat - view.lat0) * KM_PER_DEG_LAT * view.scale];
  }

  function latlon(x, y) {
    return [view.lat0 + (H / 2 - y) / view.scale / KM_PER_DEG_LAT, view.lon0 + (x - W / 2) / view.scale / view.kx];
  }

  function niceStep(km) {
    const e = Math.pow(10, Math.floor(Math.log10(km)));
    for (const m of [1, 2, 5, 10]) if (m * e >= km) return m * e;
    return 10 * e;
  }

  function draw(next) {
    state = Object.assign({labs: [], maker: null, flows: []}, next || state);
    const pts = pointsOf(state);
    if (!view || pts.some(p => !inside(view.bounds, p))) fit(pts);
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const grid = node("g", {class: "grid-lines"});
    const step = niceStep(W / view.scale / 6);
    const kmLeft = -W / 2 / view.scale, kmTop = H / 2 / view.scale;
    for (let k = Math.ceil(kmLeft / step) * step; k <= -kmLeft; k += step) {
      const x = W / 2 + k * view.scale;
      grid.append(node("line", {x1: x, x2: x, y1: 0, y2: H, class: "grid"}));
    }
    for (let k = Math.ceil(-kmTop / step) * step; k <= kmTop; k += step) {
      const y = H / 2 - k * view.scale;
      grid.append(node("line", {x1: 0, x2: W, y1: y, y2: y, class: "grid"}));
    }
    svg.append(grid);
    const bar = step * view.scale;
    svg.append(node("line", {x1: 12, x2: 12 + bar, y1: H - 14, y2: H - 14, class: "scale"}));
    svg.append(node("text", {x: 12, y: H - 20}, `${step} km`));
    const maxWeight = Math.max(1, ...(state.flows || []).map(f => f.weight || 1));
    for (const f of state.flows || []) {
      const [x1, y1] = xy(f.from.lat, f.from.lon), [x2, y2] = xy(f.to.lat, f.to.lon);
      const line = node("line", {x1, y1, x2, y2, class: "flow", "stroke-width": 1.5 + 5 * (f.weight || 1) / maxWeight});
      if (f.title) line.append(node("title", {}, f.title));
      svg.append(line);
      svg.append(node("circle", {cx: x1, cy: y1, r: 3, class: "maker"}));
    }
    for (const lab of state.labs) {
      const [x, y] = xy(lab.lat, lab.lon);
      const s = lab.size || 10;
      const g = node("g", {class: "lab-mark", "data-lab": lab.id});
      g.append(node("rect", {x: x - s / 2, y: y - s / 2, width: s, height: s, class: "lab" + (lab.chosen ? " chosen" : "")}));
      g.append(node("text", {x: x + s / 2 + 3, y: y + 4}, lab.label || lab.name || lab.id));
      if (lab.title) g.append(node("title", {}, lab.title));
      svg.append(g);
    }
    if (state.maker) {
      const [x, y] = xy(state.maker.lat, state.maker.lon);
      svg.append(node("circle", {cx: x, cy: y, r: 7, class: "maker", id: "maker-mark"}));
      svg.append(node("text", {x: x + 9, y: y - 8}, state.maker.label || "you"));
    }
    for (const lab of state.labs.filter(l => l.chosen && state.maker)) {
      const [x1, y1] = xy(state.maker.lat, state.maker.lon), [x2, y2] = xy(lab.lat, lab.lon);
      svg.insertBefore(node("line", {x1, y1, x2, y2, class: "flow", "stroke-width": 3, "stroke-dasharray": "6 4"}), svg.children[1]);
    }
  }

  if (options.onPick) {
    svg.addEventListener("click", event => {
      const point = svg.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      const p = point.matrixTransform(svg.getScreenCTM().inverse());
      const [lat, lon] = latlon(p.x, p.y);
      options.onPick(Math.round(lat * 1e5) / 1e5, Math.round(lon * 1e5) / 1e5);
    });
  }
  return {draw};
}
