// HallWatch zone editor, side panel: zone lists, floor scale, microphones, save; and the event wiring.
// Uses the state and helpers of editor.js (loaded first).
"use strict";

function render() {
  renderSvg();
  renderZones();
  renderFloor();
  updateDrawbar();
}

function zoneRow(t, text) {
  const row = el("div", {class: "row"});
  row.append(el("span", {}, text));
  const redraw = el("button", {"data-action": "redraw", "data-zone": label(t)}, "Redraw");
  redraw.onclick = () => beginDraw(t);
  const select = el("button", {"data-action": "select", "data-zone": label(t)}, "Edit points");
  select.onclick = () => { S.selected = t; render(); };
  row.append(redraw, select);
  return row;
}

function idInput(item, kind) {
  const inp = el("input", {type: "text", value: item.id, "data-rename": `${kind}:${item.id}`});
  inp.onchange = () => {
    const v = inp.value.trim();
    const taken = (kind === "window" ? S.state.windows : S.state.staff_areas).some((o) => o !== item && o.id === v);
    if (!/^[A-Za-z0-9_.-]+$/.test(v) || taken) {
      status(`${v || "(empty)"}: not a usable ${kind} id (letters, digits, _ . - and unique)`, "error");
      inp.value = item.id;
      return;
    }
    item.id = v;
    renderSvg();
  };
  return inp;
}

function renderZones() {
  const box = $("#windows");
  box.innerHTML = "";
  for (const w of S.state.windows.filter((w) => w.camera === S.cam)) {
    const div = el("div", {class: "item" + (S.selected && S.selected.item === w ? " selected" : ""), "data-window": w.id});
    const head = el("div", {class: "row"});
    const del = el("button", {"data-action": "delete-window"}, "Delete");
    del.onclick = () => { S.state.windows = S.state.windows.filter((o) => o !== w); S.selected = null; render(); };
    head.append("window", idInput(w, "window"), del);
    if (S.cfg.microphones.length) {
      const sel = el("select", {"data-mic-of": w.id});
      for (const m of ["", "camera", ...S.cfg.microphones.map((m) => m.id)]) sel.append(el("option", {value: m}, m || "(no mic)"));
      sel.value = w.microphone || "";
      sel.onchange = () => { w.microphone = sel.value || null; };
      head.append(sel);
    }
    div.append(head, zoneRow({type: "post", item: w}, "post"));
    if (w.counter) {
      const row = zoneRow({type: "counter", item: w}, "counter");
      const rm = el("button", {"data-action": "delete-counter"}, "Remove");
      rm.onclick = () => { w.counter = null; render(); };
      row.append(rm);
      div.append(row);
    } else {
      const add = el("button", {"data-action": "add-counter"}, "Add counter zone");
      add.onclick = () => { w.counter = []; beginDraw({type: "counter", item: w}); };
      div.append(add);
    }
    box.append(div);
  }
  const areas = $("#areas");
  areas.innerHTML = "";
  for (const a of S.state.staff_areas.filter((a) => a.camera === S.cam)) {
    const div = el("div", {class: "item" + (S.selected && S.selected.item === a ? " selected" : "")});
    const head = el("div", {class: "row"});
    const del = el("button", {"data-action": "delete-area"}, "Delete");
    del.onclick = () => { S.state.staff_areas = S.state.staff_areas.filter((o) => o !== a); S.selected = null; render(); };
    head.append("area", idInput(a, "staff area"), del);
    div.append(head, zoneRow({type: "staff", item: a}, "zone"));
    areas.append(div);
  }
}

function cancelMode() {
  if (S.mode && S.mode.kind === "zone" && pts(S.mode.target).length < 3) {
    const t = S.mode.target;  // a new zone that never got its points
    if (t.type === "staff") S.state.staff_areas = S.state.staff_areas.filter((a) => a !== t.item);
    else if (t.type === "counter") t.item.counter = null;
  }
  S.mode = null;
  status("");
  render();
}

// ---------------------------------------------------------------- floor scale
function renderFloor() {
  const body = $("#floor-table tbody");
  body.innerHTML = "";
  const fe = S.floorEdit[S.cam] || (S.floorEdit[S.cam] = {image: [], metres: []});
  fe.image.forEach((q, i) => {
    const tr = el("tr");
    tr.append(el("td", {}, `F${i + 1}`), el("td", {}, `${q[0].toFixed(3)}, ${q[1].toFixed(3)}`));
    for (const k of [0, 1]) {
      const inp = el("input", {type: "number", step: "0.01", value: fe.metres[i][k], "data-floor": `${i}:${k}`});
      inp.onchange = () => { fe.metres[i][k] = inp.value === "" ? "" : Number(inp.value); delete S.grids[S.cam]; renderSvg(); };
      const td = el("td"); td.append(inp); tr.append(td);
    }
    body.append(tr);
  });
  $("#floor-add").textContent = S.mode && S.mode.kind === "floor" ? "Done clicking" : "Click floor points";
}

function floorOf(cam) {
  const fe = S.floorEdit[cam];
  if (!fe || !fe.image.length) return null;
  if (fe.metres.some((m) => m[0] === "" || m[1] === "")) throw new Error(`floor of ${cam}: type the metre coordinates of every point`);
  return {image: fe.image, metres: fe.metres};
}

function floorMsg(text, kind) {
  const m = $("#floor-msg");
  m.textContent = text;
  m.className = kind;
}

async function checkFloor(cam, quiet) {
  try {
    const floor = floorOf(cam);
    if (!floor) { floorMsg("no floor points", "error"); return; }
    const fit = await api("api/floor/check", floor);
    S.grids[cam] = fit.grid_rel;
    if (cam === S.cam) floorMsg(`floor calibration OK: points fit within ${fit.residual_m.toFixed(2)} m; grid every ${fit.step_m} m`, "ok");
  } catch (err) {
    delete S.grids[cam];
    if (cam === S.cam || !quiet) floorMsg(err.message, "error");
  }
  renderSvg();
}

function fillRectangle() {
  const fe = S.floorEdit[S.cam];
  const w = Number($("#rect-w").value), d = Number($("#rect-d").value);
  if (!fe || fe.image.length !== 4 || !(w > 0) || !(d > 0)) {
    floorMsg("click exactly four corners of a floor rectangle in order, and give both side lengths", "error");
    return;
  }
  // Corners in click order: F1->F2 is the first side, F2->F3 the second.
  fe.metres = [[0, 0], [w, 0], [w, d], [0, d]];
  delete S.grids[S.cam];
  render();
}

// ---------------------------------------------------------------- microphones
function levelsSvg(levels) {
  const s = sv("svg", {class: "levels", viewBox: `0 0 ${Math.max(levels.length, 1)} 60`, preserveAspectRatio: "none"});
  // dBFS from -80 (bottom) to -20 (top... clipped) -> bars
  levels.forEach((db, i) => {
    const h = Math.max(0, Math.min(60, db + 80));
    s.append(sv("rect", {x: i, y: 60 - h, width: 0.9, height: h, fill: db > -20 ? "#ff8a80" : "#7CFC00"}));
  });
  return s;
}

function renderMics() {
  const box = $("#mics");
  box.innerHTML = "";
  if (!S.cfg.microphones.length) box.append(el("p", {class: "hint"}, "no microphones in the config"));
  for (const m of S.cfg.microphones) {
    const rec = S.mics[m.id] || (S.mics[m.id] = {});
    const base = S.state.baselines[m.id];
    const div = el("div", {class: "item", "data-mic": m.id});
    div.append(el("div", {}, `${m.id} (${m.source})`));
    const row = el("div", {class: "row"});
    const secs = el("input", {type: "number", min: "1", max: "120", value: rec.seconds || 5});
    const start = el("input", {type: "number", min: "0", value: rec.start || 0, title: "start in the file, s"});
    row.append("seconds", secs);
    if (m.file) row.append("from", start);
    for (const kind of ["ambient", "speech"]) {
      const b = el("button", {"data-record": kind}, `Record ${kind}`);
      b.onclick = () => record(m, kind, Number(secs.value), Number(start.value));
      row.append(b);
    }
    div.append(row);
    for (const kind of ["ambient", "speech"]) if (rec[kind]) {
      div.append(el("div", {class: "hint"}, `${kind}: ${rec[kind].level_db} dBFS` +
        (kind === "speech" ? `, ${rec[kind].speech_s} s of speech` : "") +
        (rec[kind].pitch_hz ? `, pitch ${rec[kind].pitch_hz} Hz` : "")), levelsSvg(rec[kind].levels_db));
    }
    div.append(el("div", {"data-baseline": m.id}, base ? `baseline: ambient ${base.ambient_db ?? "-"} dBFS, ` +
      `speech ${base.speech_db ?? "-"} dBFS, pitch ${base.pitch_hz ?? "-"} Hz` : "no baseline yet"));
    box.append(div);
  }
}

async function record(m, kind, seconds, start) {
  status(`recording ${seconds} s of ${kind} from ${m.id}...`);
  const base = S.state.baselines[m.id] || {};
  try {
    const r = await api(`api/mic/${encodeURIComponent(m.id)}/record`, {kind, seconds, start_s: start});
    Object.assign(S.mics[m.id], {[kind]: r, seconds, start});
    const nb = {...base};
    if (kind === "ambient") nb.ambient_db = Math.min(0, r.level_db);
    else { nb.speech_db = Math.min(0, r.level_db); if (r.pitch_hz) nb.pitch_hz = r.pitch_hz; }
    S.state.baselines[m.id] = nb;
    status(`${m.id} ${kind}: ${r.level_db} dBFS (not saved yet)`, "ok");
  } catch (err) {
    status(err.message, "error");
  }
  renderMics();
}

// ---------------------------------------------------------------- save and live preview
async function save() {
  if (S.mode) finishMode();
  try {
    const floors = {};
    for (const cam of Object.keys(S.floorEdit)) floors[cam] = floorOf(cam);
    const res = await api("api/save", {...S.state, floors});
    S.state.windows.forEach((w) => { w.orig_id = w.id; });
    S.state.staff_areas.forEach((a) => { a.orig_id = a.id; });
    status(`Saved ${res.path}` + (res.backup ? `\nprevious version: ${res.backup}` : ""), "ok");
  } catch (err) {
    status(err.message, "error");
  }
}

function stopLive() {
  const live = $("#live");
  live.removeAttribute("src");
  live.hidden = true;
  $("#snap").hidden = false;
  $("#overlay").style.display = "";
  $("#live-toggle").textContent = "Live preview";
}

function toggleLive() {
  const live = $("#live");
  if (!live.hidden) { stopLive(); return; }
  live.src = `api/live/${encodeURIComponent(S.cam)}?t=${Number($("#snap-t").value) || 0}`;
  live.hidden = false;
  $("#snap").hidden = true;
  $("#overlay").style.display = "none";  // the preview draws the saved zones itself
  $("#live-toggle").textContent = "Back to editing";
  status("live preview shows the saved config: save first to see your edits");
}

function wire() {
  const svg = $("#overlay");
  svg.addEventListener("click", onClick);
  svg.addEventListener("dblclick", (e) => { if (S.mode && S.mode.kind === "zone") { e.preventDefault(); S.mode.points.pop(); finishMode(); } });
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", () => { if (S.drag) { S.drag = null; render(); } });
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape") cancelMode();
    if (e.key === "Enter" && S.mode && e.target.tagName !== "INPUT") finishMode();
  });
  $("#camera").onchange = (e) => selectCamera(e.target.value);
  $("#snap-reload").onclick = () => loadSnapshot(true);
  $("#snap-t").onchange = () => loadSnapshot(false);
  $("#finish").onclick = finishMode;
  $("#cancel").onclick = cancelMode;
  $("#add-window").onclick = addWindow;
  $("#add-area").onclick = addArea;
  $("#save").onclick = save;
  $("#live-toggle").onclick = toggleLive;
  $("#floor-add").onclick = () => { S.mode = S.mode && S.mode.kind === "floor" ? null : {kind: "floor"}; render(); };
  $("#floor-clear").onclick = () => { S.floorEdit[S.cam] = {image: [], metres: []}; delete S.grids[S.cam]; floorMsg("", ""); render(); };
  $("#floor-check").onclick = () => checkFloor(S.cam, false);
  $("#rect-fill").onclick = fillRectangle;
}

wire();
load().catch((err) => status(`cannot load: ${err.message}`, "error"));
