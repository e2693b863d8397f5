// HallWatch zone editor: polygons over a camera snapshot, floor scale, microphone baselines.
// Plain JS + SVG, no build. Zones are kept relative 0..1; the SVG viewBox is the snapshot's pixel size.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const sv = (tag, attrs = {}) => {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const r4 = (v) => Math.round(v * 1e4) / 1e4;
const clamp01 = (v) => Math.min(1, Math.max(0, v));

const S = {
  cfg: null, state: null, cam: null, W: 1, H: 1,
  mode: null,          // null | {kind: "zone", target, points} | {kind: "floor"}
  selected: null,      // {target} of the selected polygon
  drag: null,          // {target, index (vertex) | null (whole polygon), start, orig}
  floorEdit: {},       // camera id -> {image: [[x, y]], metres: [[X, Y] or ""]}
  grids: {},           // camera id -> polylines (relative) of the last good floor check
  mics: {},            // mic id -> {ambient, speech} recordings shown in the page
};

// A "target" names one polygon: {type: "post"|"counter"|"staff", item}. get/set its points.
const pts = (t) => (t.type === "staff" ? t.item.zone : t.item[t.type]);
const setPts = (t, p) => { if (t.type === "staff") t.item.zone = p; else t.item[t.type] = p; };
const label = (t) => (t.type === "staff" ? t.item.id : `${t.item.id} ${t.type}`);

function status(msg, kind = "") {
  const s = $("#status");
  s.textContent = msg;
  s.className = kind;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await res.json().catch(() => ({detail: `${res.status} ${res.statusText}`}));
  if (!res.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

// ---------------------------------------------------------------- loading
async function load() {
  S.cfg = await api("api/config");
  S.state = S.cfg.state;
  $("#cfg-path").textContent = S.cfg.path;
  const sel = $("#camera");
  sel.innerHTML = "";
  for (const c of S.cfg.cameras) sel.append(el("option", {value: c.id}, c.id));
  for (const [cam, f] of Object.entries(S.state.floors)) {
    S.floorEdit[cam] = f ? {image: f.image, metres: f.metres} : {image: [], metres: []};
  }
  await selectCamera(S.cfg.cameras[0].id);
  renderMics();
  for (const cam of Object.keys(S.floorEdit)) if (S.floorEdit[cam].image.length) checkFloor(cam, true);
}

function selectCamera(id) {
  S.cam = id;
  S.mode = null; S.selected = null;
  $("#camera").value = id;
  const cam = S.cfg.cameras.find((c) => c.id === id);
  $("#time-box").hidden = !cam.file;
  stopLive();
  return loadSnapshot(false);
}

function loadSnapshot(fresh) {
  const img = $("#snap");
  const t = Number($("#snap-t").value) || 0;
  return new Promise((resolve) => {
    img.onload = () => {
      S.W = img.naturalWidth; S.H = img.naturalHeight;
      $("#overlay").setAttribute("viewBox", `0 0 ${S.W} ${S.H}`);
      $("#overlay").setAttribute("preserveAspectRatio", "none");
      render();
      resolve();
    };
    img.onerror = () => { status(`no snapshot for ${S.cam}`, "error"); render(); resolve(); };
    img.src = `api/snapshot/${encodeURIComponent(S.cam)}?t=${t}${fresh ? "&fresh=1" : ""}`;
  });
}

// ---------------------------------------------------------------- drawing on the SVG
function toRel(evt) {
  const svg = $("#overlay");
  const p = svg.createSVGPoint();
  p.x = evt.clientX; p.y = evt.clientY;
  const q = p.matrixTransform(svg.getScreenCTM().inverse());
  return [r4(clamp01(q.x / S.W)), r4(clamp01(q.y / S.H))];
}
const px = (p) => `${p[0] * S.W},${p[1] * S.H}`;

function targetsOfCamera() {
  const out = [];
  for (const w of S.state.windows.filter((w) => w.camera === S.cam)) {
    out.push({type: "post", item: w});
    if (w.counter) out.push({type: "counter", item: w});
  }
  for (const a of S.state.staff_areas.filter((a) => a.camera === S.cam)) out.push({type: "staff", item: a});
  return out;
}
const same = (a, b) => a && b && a.item === b.item && a.type === b.type;

function renderSvg() {
  const svg = $("#overlay");
  svg.innerHTML = "";
  const shown = svg.getBoundingClientRect().width;
  const fs = 14 * (shown > 0 ? S.W / shown : 1);  // 14 screen pixels whatever the snapshot size
  for (const line of S.grids[S.cam] || []) svg.append(sv("polyline", {class: "grid", points: line.map(px).join(" ")}));
  for (const t of targetsOfCamera()) {
    if (S.mode && S.mode.kind === "zone" && same(S.mode.target, t)) continue;
    const p = pts(t);
    const poly = sv("polygon", {class: `zone ${t.type === "staff" ? "staff" : t.type}${same(S.selected, t) ? " selected" : ""}`,
      points: p.map(px).join(" "), "data-zone": label(t)});
    poly.addEventListener("mousedown", (e) => startDrag(e, t, null));
    svg.append(poly);
    const cx = p.reduce((s, q) => s + q[0], 0) / p.length, cy = p.reduce((s, q) => s + q[1], 0) / p.length;
    const txt = sv("text", {x: cx * S.W, y: cy * S.H, "font-size": fs, "text-anchor": "middle"});
    txt.textContent = label(t);
    svg.append(txt);
    if (same(S.selected, t)) {
      p.forEach((q, i) => {
        const c = sv("circle", {class: "vertex", cx: q[0] * S.W, cy: q[1] * S.H, r: fs / 3});
        c.addEventListener("mousedown", (e) => startDrag(e, t, i));
        c.addEventListener("contextmenu", (e) => { e.preventDefault(); removeVertex(t, i); });
        svg.append(c);
      });
    }
  }
  const fe = S.floorEdit[S.cam];
  if (fe) fe.image.forEach((q, i) => {
    svg.append(sv("circle", {class: "floorpt", cx: q[0] * S.W, cy: q[1] * S.H, r: fs / 3}));
    const txt = sv("text", {x: q[0] * S.W + fs / 2, y: q[1] * S.H - fs / 3, "font-size": fs * 0.8});
    txt.textContent = `F${i + 1}`;
    svg.append(txt);
  });
  if (S.mode && S.mode.kind === "zone" && S.mode.points.length) {
    svg.append(sv("polyline", {class: "drawing", points: S.mode.points.map(px).join(" ")}));
    for (const q of S.mode.points) svg.append(sv("circle", {class: "vertex", cx: q[0] * S.W, cy: q[1] * S.H, r: fs / 4}));
  }
}

function removeVertex(t, i) {
  const p = pts(t);
  if (p.length <= 3) { status("a zone needs at least 3 points", "error"); return; }
  setPts(t, p.filter((_, j) => j !== i));
  render();
}

function startDrag(e, t, index) {
  if (S.mode || e.button !== 0) return;
  e.stopPropagation(); e.preventDefault();
  S.selected = t;
  S.drag = {t, index, start: toRel(e), orig: pts(t).map((q) => q.slice())};
  render();
}

function onMove(e) {
  if (!S.drag) return;
  const [x, y] = toRel(e);
  const d = S.drag;
  if (d.index !== null) {
    const p = pts(d.t).slice(); p[d.index] = [x, y]; setPts(d.t, p);
  } else {
    const dx = x - d.start[0], dy = y - d.start[1];
    setPts(d.t, d.orig.map((q) => [r4(clamp01(q[0] + dx)), r4(clamp01(q[1] + dy))]));
  }
  renderSvg();
}

function onClick(e) {
  if (!S.mode) return;
  const p = toRel(e);
  if (S.mode.kind === "zone") { S.mode.points.push(p); renderSvg(); updateDrawbar(); }
  else if (S.mode.kind === "floor") {
    const fe = S.floorEdit[S.cam];
    fe.image.push(p); fe.metres.push(["", ""]);
    delete S.grids[S.cam];
    render();
  }
}

// ---------------------------------------------------------------- modes
function beginDraw(t) {
  S.mode = {kind: "zone", target: t, points: []};
  S.selected = t;
  status(`click the corners of ${label(t)} on the image, then Finish`);
  render();
}

function finishMode() {
  if (S.mode && S.mode.kind === "zone") {
    if (S.mode.points.length < 3) { status("a zone needs at least 3 points", "error"); return; }
    setPts(S.mode.target, S.mode.points);
    status(`${label(S.mode.target)}: ${S.mode.points.length} points (not saved yet)`, "ok");
  }
  S.mode = null;
  render();
}

function updateDrawbar() {
  const bar = $("#drawbar");
  bar.hidden = !S.mode;
  if (!S.mode) return;
  $("#draw-hint").textContent = S.mode.kind === "zone"
    ? `drawing ${label(S.mode.target)}: ${S.mode.points.length} points`
    : `clicking floor points on ${S.cam}`;
}

function uniqueId(prefix, taken) {
  for (let i = 1; ; i++) if (!taken.includes(`${prefix}${i}`)) return `${prefix}${i}`;
}

function addWindow() {
  const id = uniqueId("W", S.state.windows.map((w) => w.id));
  const n = S.state.windows.filter((w) => w.camera === S.cam).length;
  const x = 0.1 + (n % 4) * 0.2, y = 0.3 + Math.floor(n / 4) * 0.1;
  // Template: the staff seat (post) on the left, the citizen side (counter) beside it on the right.
  const box = (x0, y0, w, h) => [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]].map((q) => q.map((v) => r4(clamp01(v))));
  const w = {id, orig_id: null, camera: S.cam, post: box(x, y, 0.08, 0.2), counter: box(x + 0.08, y, 0.08, 0.2), microphone: null};
  S.state.windows.push(w);
  S.selected = {type: "post", item: w};
  status(`${id} added: drag its zones into place or redraw them`, "ok");
  render();
}

function addArea() {
  const id = uniqueId("staff", S.state.staff_areas.map((a) => a.id));
  const a = {id, orig_id: null, camera: S.cam, zone: []};
  S.state.staff_areas.push(a);
  beginDraw({type: "staff", item: a});
}
