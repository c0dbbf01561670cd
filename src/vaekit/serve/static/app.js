// vaekit explorer: one page over the JSON API under /api. Plain JavaScript, no build step, no CDN.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

const state = {
  runs: [], info: null, run: null,       // the runs, the current run's /api/runs/{id}, its id
  z: [], label: null,                    // the sliders' code and label
  map: null, upload: null,               // map data; the last uploaded example (code, label, map position)
  ends: { a: null, b: null },            // interpolation endpoints: {z, label}
  frames: [], timer: null,               // interpolation frames and the animation timer
  paint: null,                           // inpainting: {png, z, label} of the picture being painted
};

// --- talking to the server ------------------------------------------------------------------------
let busyCount = 0;
function busy(delta) {
  busyCount += delta;
  $("#busy").hidden = busyCount <= 0;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, options = {}) {
  busy(1);
  try {
    const r = await fetch(path, options);
    if (!r.ok) {
      let message = `${r.status} ${r.statusText}`;
      try { message = (await r.json()).detail || message; } catch (e) { /* not JSON */ }
      const err = new Error(message);
      err.status = r.status;
      throw err;
    }
    return r;
  } finally {
    busy(-1);
  }
}

const postJSON = (path, body) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
});

async function guarded(fn) {
  try { showError(""); await fn(); } catch (err) { showError(err.message); }
}

// --- showing examples: pictures for image runs, rows for tables ----------------------------------------
const isImage = () => state.info && state.info.kind === "image";

function rowTable(columns, rows, labels) {
  const table = document.createElement("table");
  table.className = "rows";
  const head = table.insertRow();
  for (const c of ["", ...columns]) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
  rows.forEach((row, i) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = labels ? labels[i] : String(i + 1);
    for (const v of row) tr.insertCell().textContent = typeof v === "number" ? fmt(v) : String(v);
  });
  return table;
}

function fmt(v) {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 1 ? v.toPrecision(4) : v.toPrecision(3);
}

function tile(item, caption) {
  const fig = document.createElement("figure");
  if (item.png) {
    const img = document.createElement("img");
    img.className = "pic";
    img.src = item.png;
    fig.appendChild(img);
  }
  if (caption !== undefined) {
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.appendChild(cap);
  }
  return fig;
}

function showItems(container, items, columns, captions) {
  container.replaceChildren();
  if (isImage()) {
    items.forEach((it, i) => container.appendChild(tile(it, captions ? captions[i] : undefined)));
  } else {
    container.appendChild(rowTable(columns || state.info.columns, items.map((it) => it.row), captions));
  }
}

function showOne(img, rowBox, item) {
  if (isImage()) { img.hidden = false; img.src = item.png; rowBox.replaceChildren(); }
  else { img.hidden = true; rowBox.replaceChildren(rowTable(state.info.columns, [item.row])); }
}

// --- runs -----------------------------------------------------------------------------------------------
async function loadRuns() {
  state.runs = await (await api("/api/runs")).json();
  const select = $("#run-select");
  select.replaceChildren(...state.runs.map((r) => new Option(`${r.name} (${r.kind}, ${r.dataset})`, r.id)));
  select.addEventListener("change", () => guarded(() => switchRun(select.value)));
  const wanted = new URLSearchParams(location.search).get("run");
  const first = state.runs.find((r) => r.id === wanted || r.name === wanted) || state.runs[0];
  select.value = first.id;
  await switchRun(first.id);
}

function labelOptions(select, withCycle) {
  const opts = state.info.classes.map((c, i) => new Option(c, String(i)));
  select.replaceChildren(...(withCycle ? [new Option("cycle", "")] : []), ...opts);
}

async function switchRun(id) {
  stopAnimation();
  state.run = id;
  state.info = await (await api(`/api/runs/${encodeURIComponent(id)}`)).json();
  const info = state.info;
  document.body.dataset.kind = info.kind;
  document.body.dataset.run = info.id;
  $("#run-desc").textContent = `${info.kind} ${info.shape.join("×")}, ${info.latent_dim}-d latent ` +
    `(${info.active_dims} active), ${info.conditional ? "conditional on " + info.classes.length + " classes" : "unconditional"}`;
  for (const el of $$(".cond")) el.hidden = !info.conditional;
  for (const el of $$(".img-only")) el.hidden = !isImage();
  $("#inpaint").hidden = !(isImage() && info.features.inpaint);
  $("#upload-file").accept = isImage() ? "image/*" : ".csv,text/csv";
  if (info.conditional) {
    labelOptions($("#label-select"), false);
    labelOptions($("#sample-label"), true);
    labelOptions($("#upload-label"), false);
  }
  state.label = info.conditional ? (info.start_label ?? 0) : null;
  if (info.conditional) $("#label-select").value = String(state.label);
  for (const sel of ["#sample-grid", "#interp-strip", "#restyle-grid", "#upload-result", "#inpaint-grid"]) $(sel).replaceChildren();
  $("#interp-anim").hidden = true;
  $("#btn-play").disabled = $("#btn-gif").disabled = true;
  state.upload = null;
  state.ends = { a: null, b: null };
  buildSliders();
  setCode(info.start);
  await loadMap();
  await Promise.all([pickExample("a", 0), pickExample("b", 1)]);
  if (isImage() && info.features.inpaint) await paintExample(0);
}

// --- sliders: the decoded picture follows while dragging ---------------------------------------------------
function buildSliders() {
  const box = $("#sliders");
  box.replaceChildren();
  const showAll = $("#show-inactive").checked;
  state.info.dims.forEach((d, rank) => {
    const row = document.createElement("div");
    row.className = "slider" + (d.active ? "" : " inactive");
    row.hidden = !d.active && !showAll && rank >= Math.max(4, state.info.active_dims);
    const step = (d.high - d.low) / 400;
    row.innerHTML = `<label title="activity ${d.activity.toExponential(2)} (Var of the posterior means)">` +
      `z<sub>${d.index}</sub></label><input type="range" min="${d.low}" max="${d.high}" step="${step}" ` +
      `data-dim="${d.index}"><output></output>`;
    const input = $("input", row);
    input.addEventListener("input", () => {
      state.z[d.index] = Number(input.value);
      $("output", row).textContent = Number(input.value).toFixed(2);
      requestDecode();
    });
    box.appendChild(row);
  });
}

function setCode(z) {
  state.z = z.slice();
  for (const input of $$("#sliders input")) {
    const d = Number(input.dataset.dim);
    input.value = String(state.z[d]);
    input.nextElementSibling.textContent = state.z[d].toFixed(2);
  }
  requestDecode();
}

// Latest wins: at most one decode in flight; moves made meanwhile collapse into one more request.
let decoding = false, pending = false, objectUrl = null;
function requestDecode() {
  if (decoding) { pending = true; return; }
  decoding = true;
  pending = false;
  decodeNow().then(() => {
    if ($("#error").dataset.from === "decode") { showError(""); delete $("#error").dataset.from; }
  }).catch((err) => {
    showError(err.message);
    $("#error").dataset.from = "decode";
    if (err.status === 503) pending = true;  // the server is busy: try the latest code again shortly
  }).finally(() => {
    decoding = false;
    if (pending) setTimeout(requestDecode, busyRetry());
  });
}

const busyRetry = () => ($("#error").dataset.from === "decode" ? 250 : 0);

async function decodeNow() {
  const body = { run: state.run, z: state.z, label: state.label };
  const img = $("#decoded");
  if (isImage()) {
    const blob = await (await postJSON("/api/decode", body)).blob();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(blob);
    img.hidden = false;
    img.src = objectUrl;
    $("#decoded-row").replaceChildren();
  } else {
    const item = await (await postJSON("/api/decode", { ...body, format: "json" })).json();
    showOne(img, $("#decoded-row"), item);
  }
  img.dataset.version = String(Number(img.dataset.version) + 1);
}

function randomCode() {
  // Box-Muller draws from each dimension's aggregate posterior N(mean, sd^2).
  const z = state.z.slice();
  for (const d of state.info.dims) {
    const u = 1 - Math.random(), v = Math.random();
    z[d.index] = d.mean + d.sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  setCode(z);
}

// --- samples ----------------------------------------------------------------------------------------
async function sample() {
  const label = $("#sample-label").value;
  const body = {
    run: state.run, n: Number($("#sample-n").value), seed: Number($("#sample-seed").value),
    temperature: Number($("#temperature").value), label: state.info.conditional && label !== "" ? Number(label) : null,
  };
  const res = await (await postJSON("/api/sample", body)).json();
  const caps = state.info.conditional ? res.items.map((it) => state.info.classes[it.label]) : undefined;
  showItems($("#sample-grid"), res.items, res.columns, caps);
}

// --- interpolation -------------------------------------------------------------------------------------
async function pickExample(which, index) {
  const ex = await (await api(`/api/runs/${state.run}/examples/${index}`)).json();
  setEnd(which, { z: ex.z, label: ex.label, item: ex });
}

function setEnd(which, end) {
  state.ends[which] = end;
  const box = $(`#end-${which}`);
  showOne($("img", box), $(".rowview", box), end.item);
}

async function endFromSliders(which) {
  const body = { run: state.run, z: state.z, label: state.label, format: "json" };
  const item = await (await postJSON("/api/decode", body)).json();
  setEnd(which, { z: state.z.slice(), label: state.label, item });
}

function interpBody(format) {
  const { a, b } = state.ends;
  if (!a || !b) throw new Error("choose both ends first");
  return {
    run: state.run, z_from: a.z, z_to: b.z, steps: Number($("#interp-steps").value), path: $("#interp-path").value,
    label_from: state.info.conditional ? a.label : null, label_to: state.info.conditional ? b.label : null, format,
  };
}

async function interpolate() {
  const res = await (await postJSON("/api/interpolate", interpBody("json"))).json();
  state.frames = res.items;
  const n = res.items.length;
  showItems($("#interp-strip"), res.items, res.columns, res.items.map((_, i) => `t=${(i / (n - 1)).toFixed(2)}`));
  $("#btn-play").disabled = !isImage();
  $("#btn-gif").disabled = !isImage();
  if (isImage()) play();
}

function stopAnimation() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  $("#btn-play").textContent = "play";
}

function play() {
  if (state.timer) { stopAnimation(); return; }
  const img = $("#interp-anim");
  const n = state.frames.length;
  const order = [...Array(n).keys(), ...Array.from({ length: Math.max(0, n - 2) }, (_, i) => n - 2 - i)];
  let k = 0;
  img.hidden = false;
  const show = () => {
    const f = order[k % order.length];
    img.src = state.frames[f].png;
    img.dataset.frame = String(f);
    k += 1;
  };
  show();
  state.timer = setInterval(show, 120);
  $("#btn-play").textContent = "stop";
}

async function downloadGif() {
  const blob = await (await postJSON("/api/interpolate", interpBody("gif"))).blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${state.info.name}-${$("#interp-path").value}.gif`;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// --- restyle (conditional runs) ----------------------------------------------------------------------------
async function restyle() {
  const res = await (await postJSON("/api/restyle", { run: state.run, z: state.z })).json();
  showItems($("#restyle-grid"), res.items, res.columns, res.items.map((it) => state.info.classes[it.label]));
}

// --- upload ------------------------------------------------------------------------------------------------
async function upload() {
  const file = $("#upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("run", state.run);
  if (isImage()) form.append("fit", $("#upload-fit").checked ? "true" : "false");
  if (state.info.conditional) form.append("label", $("#upload-label").value);
  const box = $("#upload-result");
  box.replaceChildren();
  const res = await (await api("/api/encode", { method: "POST", body: form })).json();
  const first = res.items[0];
  state.upload = { z: first.z, label: first.label, item: first.input, map: first.map, recon: first.recon };
  if (isImage()) {
    const pair = document.createElement("div");
    pair.className = "grid";
    pair.append(tile(first.input, "your image"), tile(first.recon, "reconstruction"));
    box.appendChild(pair);
  } else {
    const rows = res.items.flatMap((it) => [it.input.row, it.recon.row]);
    const labels = res.items.flatMap((_, i) => [`${i + 1} input`, `${i + 1} reconstruction`]);
    box.appendChild(rowTable(res.columns, rows, labels));
  }
  const p = document.createElement("p");
  p.id = "upload-score";
  p.textContent = first.anomaly === null || first.anomaly === undefined
    ? `Anomaly score: ${res.score || "not available"}.`
    : `Anomaly score ${first.anomaly.toFixed(2)} (${res.score}); higher than ${first.percentile.toFixed(1)} % of the test set.`;
  box.appendChild(p);
  const use = document.createElement("button");
  use.textContent = "put its code on the sliders";
  use.addEventListener("click", () => { if (first.label !== null) setLabel(first.label); setCode(first.z); });
  box.appendChild(use);
  drawMap();
}

function setLabel(label) {
  state.label = label;
  $("#label-select").value = String(label);
}

// --- latent map -----------------------------------------------------------------------------------------------
const palette = (i, n) => `hsl(${Math.round((360 * i) / Math.max(n, 1))}, 70%, 45%)`;

async function loadMap() {
  state.map = await (await api(`/api/runs/${state.run}/map`)).json();
  $("#map-axes").textContent = `${state.map.points.length} test examples; axes: ${state.map.axes}.`;
  const legend = $("#legend");
  legend.replaceChildren();
  if (state.map.labels) {
    state.map.classes.forEach((c, i) => {
      const item = document.createElement("div");
      item.innerHTML = `<span class="swatch" style="background:${palette(i, state.map.classes.length)}"></span>`;
      item.append(document.createTextNode(c));
      legend.appendChild(item);
    });
  }
  drawMap();
}

function mapScale() {
  const pts = state.map.points.slice();
  if (state.upload) pts.push(state.upload.map);
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const canvas = $("#map"), pad = 14;
  const sx = (canvas.width - 2 * pad) / Math.max(x1 - x0, 1e-9), sy = (canvas.height - 2 * pad) / Math.max(y1 - y0, 1e-9);
  return ([x, y]) => [pad + (x - x0) * sx, canvas.height - pad - (y - y0) * sy];
}

function drawMap() {
  if (!state.map) return;
  const canvas = $("#map"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const to = mapScale(), n = state.map.classes.length;
  state.map.points.forEach((p, i) => {
    const [x, y] = to(p);
    ctx.fillStyle = state.map.labels ? palette(state.map.labels[i], n) : "#456";
    ctx.globalAlpha = 0.75;
    ctx.beginPath(); ctx.arc(x, y, 3, 0, 2 * Math.PI); ctx.fill();
  });
  ctx.globalAlpha = 1;
  if (state.upload) {
    const [x, y] = to(state.upload.map);
    ctx.fillStyle = "#000"; ctx.font = "22px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText("★", x, y);
  }
}

function nearestPoint(ev) {
  const canvas = $("#map"), rect = canvas.getBoundingClientRect();
  const mx = (ev.clientX - rect.left) * (canvas.width / rect.width), my = (ev.clientY - rect.top) * (canvas.height / rect.height);
  const to = mapScale();
  let best = -1, bestD = 64; // within 8 px
  state.map.points.forEach((p, i) => {
    const [x, y] = to(p), d = (x - mx) ** 2 + (y - my) ** 2;
    if (d < bestD) { best = i; bestD = d; }
  });
  return best;
}

const exampleCache = new Map();
async function example(index) {
  const key = `${state.run}/${index}`;
  if (!exampleCache.has(key)) exampleCache.set(key, api(`/api/runs/${state.run}/examples/${index}`).then((r) => r.json()));
  return exampleCache.get(key);
}

let hovered = -1;
async function hoverMap(ev) {
  if (!state.map) return;
  const i = nearestPoint(ev), tip = $("#map-tip");
  if (i < 0) { tip.hidden = true; hovered = -1; return; }
  tip.style.left = `${ev.offsetX + 14}px`;
  tip.style.top = `${ev.offsetY + 14}px`;
  if (i === hovered) return;
  hovered = i;
  const ex = await example(i);
  if (hovered !== i) return;
  tip.replaceChildren();
  const label = ex.label === null ? "" : ` · class ${state.info.classes[ex.label] ?? ex.label}`;
  if (ex.png) { const img = document.createElement("img"); img.className = "pic"; img.src = ex.png; tip.appendChild(img); }
  else tip.appendChild(rowTable(state.info.columns.slice(0, 4), [ex.row.slice(0, 4)]));
  const cap = document.createElement("div");
  cap.textContent = `test example ${i}${label}`;
  tip.appendChild(cap);
  tip.hidden = false;
}

async function clickMap(ev) {
  const i = nearestPoint(ev);
  if (i < 0) return;
  const ex = await example(i);
  if (state.info.conditional && ex.label !== null) setLabel(ex.label);
  setCode(ex.z);
  $("#explore").scrollIntoView({ behavior: "smooth" });
}

// --- inpainting -----------------------------------------------------------------------------------------------
let painting = false;
function paintCanvas() { return $("#paint"); }

function clearMask() {
  const c = paintCanvas();
  c.getContext("2d").clearRect(0, 0, c.width, c.height);
  c.dataset.painted = "0";
}

async function paintExample(index) {
  const ex = await (await api(`/api/runs/${state.run}/examples/${index}`)).json();
  state.paint = { png: ex.png, label: ex.label };
  $("#paint-img").src = ex.png;
  clearMask();
}

let lastCell = null;
function cellOf(ev) {
  const c = paintCanvas(), rect = c.getBoundingClientRect(), [, h, w] = state.info.shape;
  return [Math.floor(((ev.clientX - rect.left) / rect.width) * w), Math.floor(((ev.clientY - rect.top) / rect.height) * h)];
}

function paintCell(px, py) {
  const c = paintCanvas(), [, h, w] = state.info.shape, ctx = c.getContext("2d");
  const r = Number($("#brush").value) - 1, cw = c.width / w, ch = c.height / h;
  ctx.fillStyle = "rgba(230, 30, 30, 0.6)";
  for (let y = py - r; y <= py + r; y++) for (let x = px - r; x <= px + r; x++) {
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    ctx.clearRect(x * cw, y * ch, cw, ch);
    ctx.fillRect(x * cw, y * ch, cw, ch);
  }
}

function paintAt(ev, stroke) {
  // Pointer events arrive sparsely on a fast stroke: fill every cell on the line from the last one.
  const [x1, y1] = cellOf(ev);
  const [x0, y0] = stroke && lastCell ? lastCell : [x1, y1];
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= steps; i++) paintCell(Math.round(x0 + ((x1 - x0) * i) / steps), Math.round(y0 + ((y1 - y0) * i) / steps));
  lastCell = [x1, y1];
  const c = paintCanvas();
  c.dataset.painted = String(Number(c.dataset.painted || 0) + 1);
}

function maskBits() {
  // One character per pixel, row by row: "1" = painted (to fill in), "0" = kept.
  const c = paintCanvas(), [, h, w] = state.info.shape, ctx = c.getContext("2d");
  const data = ctx.getImageData(0, 0, c.width, c.height).data;
  let bits = "";
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const cx = Math.floor((x + 0.5) * (c.width / w)), cy = Math.floor((y + 0.5) * (c.height / h));
    bits += data[(cy * c.width + cx) * 4 + 3] > 0 ? "1" : "0";
  }
  return bits;
}

async function inpaint() {
  if (!state.paint) throw new Error("choose a picture to paint on first");
  const bits = maskBits();
  if (!bits.includes("1")) throw new Error("paint over the part to fill in first");
  const blob = await (await fetch(state.paint.png)).blob();
  const form = new FormData();
  form.append("file", blob, "paint.png");
  form.append("run", state.run);
  form.append("mask", bits);
  form.append("n", $("#paint-n").value);
  if (state.info.conditional) form.append("label", String(state.paint.label ?? state.label ?? 0));
  const res = await (await api("/api/inpaint", { method: "POST", body: form })).json();
  showItems($("#inpaint-grid"), res.items, null, res.items.map((_, i) => `completion ${i + 1}`));
}

// --- wiring ------------------------------------------------------------------------------------------------------
function wire() {
  $("#label-select").addEventListener("change", () => { state.label = Number($("#label-select").value); requestDecode(); });
  $("#btn-reset").addEventListener("click", () => setCode(state.info.start));
  $("#btn-zero").addEventListener("click", () => {
    const z = state.z.slice();
    for (const d of state.info.dims) z[d.index] = d.mean;
    setCode(z);
  });
  $("#btn-random").addEventListener("click", randomCode);
  $("#show-inactive").addEventListener("change", () => { buildSliders(); setCode(state.z); });
  $("#temperature").addEventListener("input", () => { $("#temperature-out").textContent = Number($("#temperature").value).toFixed(2); });
  $("#btn-sample").addEventListener("click", () => guarded(sample));
  $("#btn-restyle").addEventListener("click", () => guarded(restyle));
  for (const which of ["a", "b"]) {
    const box = $(`#end-${which}`);
    $(".use-example", box).addEventListener("click", () => guarded(() => pickExample(which, Number($(".ex-index", box).value))));
    $(".use-sliders", box).addEventListener("click", () => guarded(() => endFromSliders(which)));
    $(".use-upload", box).addEventListener("click", () => guarded(async () => {
      if (!state.upload) throw new Error("upload something first");
      setEnd(which, { z: state.upload.z, label: state.upload.label, item: state.upload.item });
    }));
  }
  $("#btn-interp").addEventListener("click", () => guarded(interpolate));
  $("#btn-play").addEventListener("click", play);
  $("#btn-gif").addEventListener("click", () => guarded(downloadGif));
  $("#upload-file").addEventListener("change", () => guarded(upload));
  $("#upload-fit").addEventListener("change", () => guarded(upload));  // the same file again, fitted or not
  $("#upload-label").addEventListener("change", () => guarded(upload));
  const map = $("#map");
  map.addEventListener("mousemove", (ev) => hoverMap(ev).catch(() => {}));
  map.addEventListener("mouseleave", () => { $("#map-tip").hidden = true; hovered = -1; });
  map.addEventListener("click", (ev) => guarded(() => clickMap(ev)));
  const paint = paintCanvas();
  paint.addEventListener("pointerdown", (ev) => { painting = true; paint.setPointerCapture(ev.pointerId); paintAt(ev, false); });
  paint.addEventListener("pointermove", (ev) => { if (painting) paintAt(ev, true); });
  paint.addEventListener("pointerup", () => { painting = false; lastCell = null; });
  $("#btn-paint-clear").addEventListener("click", clearMask);
  $("#btn-paint-example").addEventListener("click", () => guarded(() => paintExample(Number($("#paint-index").value))));
  $("#btn-paint-upload").addEventListener("click", () => guarded(async () => {
    if (!state.upload) throw new Error("upload an image first");
    state.paint = { png: state.upload.item.png, label: state.upload.label };
    $("#paint-img").src = state.paint.png;
    clearMask();
  }));
  $("#btn-inpaint").addEventListener("click", () => guarded(inpaint));
}

window.addEventListener("DOMContentLoaded", () => {
  wire();
  guarded(loadRuns).then(() => { document.body.dataset.ready = "1"; });
});
