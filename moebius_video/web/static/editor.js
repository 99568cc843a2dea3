// moebius-video editor: plain JavaScript, no build step. Talks to the JSON API of
// moebius_video/web/app.py; all the work (decoding, tracking, removal) is done there.
"use strict";

const $ = (id) => document.getElementById(id);
const MASK_RGB = [40, 140, 255];
const EDGE = { key: "#ffc53d", tracked: "#ffffff", stale: "#8a8f9c" };
const S = {
  cfg: null, sid: null, info: null, frame: 0, timeline: null, job: null,
  img: null, resultImg: null, mask: null, maskKind: null, loadToken: 0,
  drag: null, playing: false, heartbeatTimer: null, lost: false, waitingFor: null,
};

// ---------------------------------------------------------------- messages and API

function say(text, kind = "error") {
  const box = $("message");
  if (!text) { box.hidden = true; return; }
  box.textContent = text;
  box.className = "message" + (kind === "info" ? " info" : "");
  box.hidden = false;
}

async function api(method, url, body, { raw = false, type = null } = {}) {
  const opts = { method, headers: {} };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    opts.body = body;
    opts.headers["Content-Type"] = type || "application/octet-stream";
  } else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  let response;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 60000);
  opts.signal = abort.signal;
  try {
    response = await fetch(url, opts);
  } catch (e) {
    throw new Error("the editor's server does not answer (was it stopped?)");
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    if (response.status === 404 && S.sid && url.startsWith(`/api/sessions/${S.sid}`)) lost(message);
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

function lost(message) {
  if (S.lost) return;
  S.lost = true;
  stopPolling();
  say(message || "this editing session no longer exists: open the video again");
  for (const el of document.querySelectorAll(".panel button")) el.disabled = true;
}

const sessionUrl = (rest) => `/api/sessions/${S.sid}${rest}`;

// ---------------------------------------------------------------- opening

async function openPath(path, keyframes) {
  say("opening " + path + " …", "info");
  try {
    const body = { path };
    if (keyframes) body.keyframes = keyframes;
    attach(await api("POST", "/api/sessions", body));
    say("");
  } catch (e) { say(e.message); }
}

function upload(file) {
  if (file.size > S.cfg.max_upload) {
    say(`${file.name} is ${(file.size / 1048576).toFixed(0)} MiB: the upload limit is ` +
        `${(S.cfg.max_upload / 1048576).toFixed(0)} MiB (open it by path instead)`);
    return;
  }
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/upload?name=" + encodeURIComponent(file.name));
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) say(`uploading ${file.name}: ${Math.round(100 * e.loaded / e.total)} %`, "info");
  };
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status >= 200 && xhr.status < 300 && data) { attach(data); say(""); }
    else say((data && data.error) || `upload failed (${xhr.status})`);
  };
  xhr.onerror = () => say("upload failed: the server does not answer");
  say(`uploading ${file.name} …`, "info");
  xhr.send(file);
}

function attach(data) {
  if (S.sid && S.sid !== data.id) {
    fetch(`/api/sessions/${S.sid}`, { method: "DELETE" }).catch(() => {});
  }
  S.sid = data.id; S.info = data; S.lost = false; S.timeline = data.timeline;
  history.replaceState(null, "", "#s=" + data.id);
  $("editor").hidden = false;
  $("video-name").textContent = `${data.name} · ${data.width}×${data.height} · ${data.frames} frames · ${data.fps.toFixed(2)} fps`;
  for (const el of document.querySelectorAll(".panel button")) el.disabled = false;
  for (const c of [$("view"), $("after")]) { c.width = data.width; c.height = data.height; }
  S.mask = document.createElement("canvas");
  S.mask.width = data.width; S.mask.height = data.height;
  S.edge = document.createElement("canvas");
  S.edge.width = data.width; S.edge.height = data.height;
  S.edgeDirty = true;
  layout();
  $("slider").max = data.frames - 1;
  $("keys-folder").value = data.keyframes_folder || "";
  if (data.keyframes_folder_exists && !data.timeline.keyframes.length) {
    say(`a saved session exists next to the video (${data.keyframes_folder}): press Load to continue it`, "info");
  }
  S.job = data.job;
  updateJobUi();
  if (data.job && data.job.state === "running") startPolling();
  startHeartbeat();
  showFrame(Math.min(S.frame, data.frames - 1));
  drawTimeline();
  $("view").focus();
}

// ---------------------------------------------------------------- frames and masks

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("cannot load " + url));
    img.src = url;
  });
}

function previewWidth() { return Math.min(S.info.width, 1600); }

async function showFrame(index) {
  if (!S.info) return;
  index = Math.max(0, Math.min(S.info.frames - 1, index | 0));
  S.frame = index;
  $("slider").value = index;
  $("frame-label").textContent = `${index} / ${S.info.frames - 1}`;
  const token = ++S.loadToken;
  try {
    const w = previewWidth();
    const wantResult = hasResult();
    const [img, resultImg] = await Promise.all([
      loadImage(sessionUrl(`/frames/${index}.jpg?w=${w}`)),
      wantResult ? loadImage(sessionUrl(`/result/frames/${index}.jpg?w=${w}&g=${resultTag()}`)).catch(() => null)
                 : Promise.resolve(null),
    ]);
    if (token !== S.loadToken) return;
    S.img = img; S.resultImg = resultImg;
    await loadMask(index, token);
    if (token !== S.loadToken) return;
    render();
    drawTimeline();
  } catch (e) {
    if (token === S.loadToken && !S.lost) say(`frame ${index}: ${e.message}`);
  }
}

async function loadMask(index, token) {
  const response = await api("GET", sessionUrl(`/masks/${index}.png`), undefined, { raw: true });
  if (token !== undefined && token !== S.loadToken) return;
  const ctx = S.mask.getContext("2d", { willReadFrequently: true });
  ctx.clearRect(0, 0, S.mask.width, S.mask.height);
  S.maskKind = null;
  S.edgeDirty = true;
  if (response.status === 204) { updateKeyUi(); return; }
  S.maskKind = response.headers.get("X-Mask-Kind");
  const blob = await response.blob();
  const bitmap = await createImageBitmap(blob);
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, S.mask.width, S.mask.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const on = px[i] > 127;
    px[i] = MASK_RGB[0]; px[i + 1] = MASK_RGB[1]; px[i + 2] = MASK_RGB[2];
    px[i + 3] = on ? 255 : 0;
  }
  ctx.putImageData(data, 0, 0);
  S.edgeDirty = true;
  updateKeyUi();
}

// The mask's outline (pixels of the mask with a neighbour outside it), drawn over the fill.
function updateEdges() {
  const w = S.mask.width, h = S.mask.height;
  const src = S.mask.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, w, h).data;
  const ectx = S.edge.getContext("2d");
  const out = ectx.createImageData(w, h);
  const px = out.data;
  const t = Math.max(1, Math.round(w / 480));  // outline thickness grows with the frame
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      if (src[i + 3] === 0) continue;
      let edge = false;
      for (let d = 1; d <= t && !edge; d++) {
        edge = x < d || y < d || x >= w - d || y >= h - d ||
          src[i - 4 * d + 3] === 0 || src[i + 4 * d + 3] === 0 ||
          src[i - 4 * w * d + 3] === 0 || src[i + 4 * w * d + 3] === 0;
      }
      if (edge) { px[i] = px[i + 1] = px[i + 2] = 255; px[i + 3] = 255; }
    }
  }
  ectx.putImageData(out, 0, 0);
  S.edgeDirty = false;
}

function hasResult() {
  return !!(S.timeline && S.timeline.result);
}
function resultTag() {
  return S.job && S.job.kind === "remove" ? S.job.id : 0;
}

function render() {
  const view = $("view"), ctx = view.getContext("2d");
  if (!S.img) return;
  ctx.drawImage(S.img, 0, 0, view.width, view.height);
  if (S.maskKind) {
    ctx.save();
    ctx.globalAlpha = S.maskKind === "stale" ? 0.25 : 0.42;
    ctx.drawImage(S.mask, 0, 0);
    ctx.restore();
    if (!S.drag) {
      if (S.edgeDirty) updateEdges();
      // tint the white outline: gold on keyframes, white on tracked frames, grey when stale
      const tint = document.createElement("canvas");
      tint.width = view.width; tint.height = view.height;
      const tctx = tint.getContext("2d");
      tctx.drawImage(S.edge, 0, 0);
      tctx.globalCompositeOperation = "source-in";
      tctx.fillStyle = EDGE[S.maskKind] || "#fff";
      tctx.fillRect(0, 0, tint.width, tint.height);
      ctx.drawImage(tint, 0, 0);
    }
  }
  if (S.drag && S.drag.tool === "box") {
    const { x0, y0, x1, y1 } = S.drag;
    ctx.save();
    ctx.strokeStyle = "#ffc53d"; ctx.lineWidth = Math.max(2, view.width / 400);
    ctx.setLineDash([8, 6]);
    ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    ctx.restore();
  }
  if (S.drag && S.drag.tool !== "box" && S.drag.cursor) {
    const { x, y } = S.drag.cursor;
    ctx.save();
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(x, y, brushSize() / 2, 0, 2 * Math.PI); ctx.stroke();
    ctx.restore();
  }
  const showAfter = !!(hasResult() && S.resultImg);
  if ($("after-pane").hidden === showAfter) { $("after-pane").hidden = !showAfter; layout(); }
  $("label-before").textContent = showAfter ? "input + mask" : "input";
  if (showAfter) $("after").getContext("2d").drawImage(S.resultImg, 0, 0, view.width, view.height);
}

// Fit the frame (and the result beside it) in the window, keeping the aspect ratio, so that
// the timeline stays in view.
function layout() {
  if (!S.info) return;
  const two = !$("after-pane").hidden;
  const stage = $("stage");
  const gap = 10;
  const maxW = (stage.clientWidth - (two ? gap : 0)) / (two ? 2 : 1);
  const maxH = Math.max(160, window.innerHeight - 250);
  const scale = Math.min(maxW / S.info.width, maxH / S.info.height);
  for (const c of [$("view"), $("after")]) {
    c.style.width = `${Math.floor(S.info.width * scale)}px`;
    c.style.height = `${Math.floor(S.info.height * scale)}px`;
  }
}

function updateKeyUi() {
  const key = S.maskKind === "key";
  $("delete-key").hidden = !key;
  $("key-state").textContent = key ? `frame ${S.frame} is a keyframe` :
    S.maskKind === "tracked" ? "tracked mask: paint or erase to correct it" :
    S.maskKind === "stale" ? "old mask: re-track to update it" : "no mark on this frame";
}

// ---------------------------------------------------------------- marking

const tool = () => document.querySelector("input[name=tool]:checked").value;
const brushSize = () => +$("brush").value * Math.max(1, S.info.width / 960);

function toVideo(e) {
  const r = $("view").getBoundingClientRect();
  return {
    x: (e.clientX - r.left) * S.info.width / r.width,
    y: (e.clientY - r.top) * S.info.height / r.height,
  };
}

function paint(from, to, erase) {
  const ctx = S.mask.getContext("2d");
  ctx.save();
  ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = `rgb(${MASK_RGB.join(",")})`;
  ctx.lineWidth = brushSize(); ctx.lineCap = "round"; ctx.lineJoin = "round";
  ctx.beginPath(); ctx.moveTo(from.x, from.y); ctx.lineTo(to.x, to.y); ctx.stroke();
  ctx.restore();
  if (!S.maskKind || S.maskKind === "stale") S.maskKind = "tracked";
  S.edgeDirty = true;
}

function onPointerDown(e) {
  if (!S.info || S.lost || e.button !== 0) return;
  $("view").setPointerCapture(e.pointerId);
  const p = toVideo(e), t = tool();
  stopPlaying();
  if (t === "box") S.drag = { tool: t, x0: p.x, y0: p.y, x1: p.x, y1: p.y };
  else {
    if (S.maskKind === "stale") { // correcting an old mask: start from it, as shown
      S.maskKind = "tracked";
    }
    S.drag = { tool: t, last: p, cursor: p, changed: true };
    paint(p, p, t === "erase");
  }
  render();
}

function onPointerMove(e) {
  if (!S.drag) return;
  const p = toVideo(e);
  if (S.drag.tool === "box") { S.drag.x1 = p.x; S.drag.y1 = p.y; }
  else { paint(S.drag.last, p, S.drag.tool === "erase"); S.drag.last = p; S.drag.cursor = p; }
  render();
}

async function onPointerUp(e) {
  if (!S.drag) return;
  const d = S.drag;
  S.drag = null;
  if (d.tool === "box") {
    const x = Math.round(Math.min(d.x0, d.x1)), y = Math.round(Math.min(d.y0, d.y1));
    const w = Math.round(Math.abs(d.x1 - d.x0)), h = Math.round(Math.abs(d.y1 - d.y0));
    if (w < 3 || h < 3) { render(); say("the box is empty: drag a rectangle around the object"); return; }
    await markBox([x, y, w, h]);
  } else {
    await commitMask();
  }
}

// Marks in flight (the tests wait for none).
let pendingMarks = 0;
function busy(delta) {
  pendingMarks += delta;
  document.body.dataset.marks = String(pendingMarks);
}

async function markBox(box) {
  const index = S.frame;
  busy(1);
  try {
    let blob;
    if ($("snap").checked) {
      const response = await api("POST", sessionUrl("/snap"), { frame: index, box }, { raw: true });
      blob = await response.blob();
      if (response.headers.get("X-Snapped") !== "1") say("no object stood out in the box: the box itself is the mark", "info");
      else say("");
    } else {
      const c = document.createElement("canvas");
      c.width = S.info.width; c.height = S.info.height;
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#000"; ctx.fillRect(0, 0, c.width, c.height);
      ctx.fillStyle = "#fff"; ctx.fillRect(box[0], box[1], box[2], box[3]);
      blob = await new Promise((r) => c.toBlob(r, "image/png"));
      say("");
    }
    const data = await api("PUT", sessionUrl(`/keyframes/${index}`), blob, { type: "image/png" });
    S.timeline = data.timeline;
    if (index === S.frame) await loadMask(index);
    render(); drawTimeline();
  } catch (e) { say(e.message); render(); }
  finally { busy(-1); }
}

async function commitMask() {
  const index = S.frame;
  busy(1);
  const blob = await new Promise((r) => S.mask.toBlob(r, "image/png"));
  try {
    const data = await api("PUT", sessionUrl(`/keyframes/${index}`), blob, { type: "image/png" });
    S.timeline = data.timeline; S.maskKind = "key";
    say("");
  } catch (e) {
    say(e.message);
    if (index === S.frame) await loadMask(index).catch(() => {});
  } finally { busy(-1); }
  updateKeyUi(); render(); drawTimeline();
}

async function deleteKey() {
  try {
    const data = await api("DELETE", sessionUrl(`/keyframes/${S.frame}`));
    S.timeline = data.timeline;
    await loadMask(S.frame);
    render(); drawTimeline();
  } catch (e) { say(e.message); }
}

// ---------------------------------------------------------------- timeline

function drawTimeline() {
  const c = $("timeline");
  const w = c.clientWidth | 0, h = c.clientHeight | 0;
  if (c.width !== w) c.width = w;
  if (c.height !== h) c.height = h;
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  if (!S.info || !S.timeline) return;
  const n = S.info.frames, tl = S.timeline;
  const fx = (i) => (i * w) / n, fw = Math.max(1, w / n);
  const band = 14, top = band + 4, graph = h - top - 4;
  // doubtful ranges behind everything
  ctx.fillStyle = "rgba(255,90,95,0.22)";
  for (const r of tl.doubtful) ctx.fillRect(fx(r.start), 0, fx(r.end + 1) - fx(r.start), h);
  // state band
  for (let i = 0; i < n; i++) {
    const s = tl.states[i];
    ctx.fillStyle = s === "k" ? "#ffc53d" : s === "t" ? "#2c8f66" : s === "s" ? "#6b7080" : "#262a34";
    ctx.fillRect(fx(i), 2, fw + 0.5, band);
  }
  // confidence curve
  ctx.strokeStyle = "#3ecf8e"; ctx.lineWidth = 1.5; ctx.beginPath();
  let pen = false;
  for (let i = 0; i < n; i++) {
    const v = tl.confidence[i];
    if (v === null) { pen = false; continue; }
    const x = fx(i) + fw / 2, y = top + (1 - v) * graph;
    if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    pen = true;
  }
  ctx.stroke();
  // threshold
  const ty = top + (1 - S.cfg.doubtful) * graph;
  ctx.strokeStyle = "rgba(255,90,95,0.6)"; ctx.setLineDash([3, 4]); ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(0, ty); ctx.lineTo(w, ty); ctx.stroke(); ctx.setLineDash([]);
  // keyframe ticks
  ctx.fillStyle = "#ffc53d";
  for (const k of tl.keyframes) ctx.fillRect(fx(k) + fw / 2 - 1, 0, 2, h);
  // cursor
  ctx.fillStyle = "#fff";
  ctx.fillRect(fx(S.frame) + fw / 2 - 1, 0, 2, h);
  // doubtful list
  const list = $("doubtful");
  list.textContent = "";
  if (tl.doubtful.length) {
    list.append("doubtful:");
    for (const r of tl.doubtful.slice(0, 6)) {
      const link = document.createElement("a");
      const key = r.suggested_keyframes[0];
      link.textContent = (r.start === r.end ? `${r.start}` : `${r.start}–${r.end}`) + ` (correct ${key})`;
      link.title = `lowest confidence ${r.min_confidence}: a keyframe at ${r.suggested_keyframes.join(", ")} would help most`;
      link.onclick = () => showFrame(key);
      list.append(link);
    }
  }
}

function timelineSeek(e) {
  if (!S.info) return;
  const r = $("timeline").getBoundingClientRect();
  showFrame(Math.floor(((e.clientX - r.left) / r.width) * S.info.frames));
}

// ---------------------------------------------------------------- jobs

// A job's state always comes from polling: the answer to the POST that starts it only
// speeds that up (so a lost or late answer cannot leave the page behind).
async function startJob(what, body) {
  const before = S.job ? S.job.id : 0;
  S.waitingFor = before;
  startPolling();
  try {
    const data = await api("POST", sessionUrl(`/${what}`), body);
    if (!S.job || data.job.id >= S.job.id) { S.job = data.job; updateJobUi(); }
  } catch (e) {
    S.waitingFor = null;
    say(e.message);
  }
}

function startTrack() {
  return startJob("track", { tracker: $("tracker").value });
}

function startRemove() {
  const dilate = parseInt($("dilate").value, 10);
  return startJob("remove", { fill: $("fill").value, dilate: isNaN(dilate) ? null : dilate });
}

async function cancelJob() {
  try { await api("POST", sessionUrl("/cancel")); } catch (e) { say(e.message); }
}

// One poll at a time, each tagged with the polling round it belongs to: an answer that
// arrives after a new job started (an older round's) is dropped, never applied.
let pollRound = 0;
function startPolling() {
  const round = ++pollRound;
  const loop = async () => {
    if (round !== pollRound) return;
    await poll(round);
    if (round === pollRound) setTimeout(loop, 300);
  };
  setTimeout(loop, 300);
}
function stopPolling() {
  pollRound++;
}

async function poll(round) {
  if (!S.sid || S.lost) return;
  let data;
  try { data = await api("GET", sessionUrl("/job")); }
  catch (e) {  // a lost session stops polling (api() did); anything else is retried
    if (!S.lost && round === pollRound) say(e.message);
    return;
  }
  if (round !== pollRound) return;
  const before = S.timeline ? S.timeline.states[S.frame] : null;
  if (S.waitingFor !== null && S.waitingFor !== undefined) {
    // A job is being started: the previous one's final state is not news.
    if (data.job && data.job.id > S.waitingFor) S.waitingFor = null;
    else { S.timeline = data.timeline; drawTimeline(); return; }
  }
  S.job = data.job; S.timeline = data.timeline;
  updateJobUi(); drawTimeline();
  const finished = !S.job || S.job.state !== "running";
  if (before !== S.timeline.states[S.frame] || finished) {
    showFrame(S.frame);
  }
  if (finished) {
    stopPolling();
    if (S.job && S.job.state === "failed") say(S.job.message);
    else if (S.job && S.job.state === "cancelled") say(S.job.message, "info");
  }
}

function updateJobUi() {
  const job = S.job;
  const running = job && job.state === "running";
  for (const kind of ["track", "remove"]) {
    const mine = job && job.kind === kind;
    const bar = $(`${kind}-progress`);
    bar.hidden = !(mine && running);
    if (mine && job.total) { bar.max = job.total; bar.value = job.done; }
    $(`${kind}-cancel`).hidden = !(mine && running);
    $(kind).disabled = !!running;
    let text = "";
    if (mine) {
      if (running) text = `${kind === "track" ? "tracking" : "removing"}: ${job.done} / ${job.total ?? "?"} frames · ${job.seconds.toFixed(1)} s`;
      else if (job.state === "done") text = `${job.message} in ${job.seconds.toFixed(1)} s`;
      else text = `${job.state}: ${job.message}`;
    }
    $(`${kind}-state`).textContent = text;
  }
  const tl = S.timeline;
  if (tl && !running) {
    const stale = [...tl.states].filter((s) => s === "s" || s === "-").length;
    if (!tl.keyframes.length) $("track-state").textContent = "mark the object on a frame first";
    else if (stale && !(job && job.kind === "track" && job.state !== "done")) $("track-state").textContent = `${stale} frames to track`;
  }
  const result = tl && tl.result;
  $("result-actions").hidden = !result;
  $("save-result").hidden = !S.info || S.info.uploaded;
  if (result) {
    $("download").href = sessionUrl(`/result.mp4?download=1`);
    if (result.stale && !running) $("remove-state").textContent = "the masks changed since this result: remove again to update it";
  }
}

// ---------------------------------------------------------------- result

async function saveResult() {
  try {
    const data = await api("POST", sessionUrl("/save-result"));
    say("saved " + data.path, "info");
  } catch (e) { say(e.message); }
}

function stopPlaying() {
  S.playing = false;
  $("play").textContent = "▶ Play";
}

async function play() {
  if (S.playing) { stopPlaying(); return; }
  S.playing = true;
  $("play").textContent = "❚❚ Pause";
  let i = S.frame >= S.info.frames - 1 ? 0 : S.frame;
  const step = 1000 / Math.max(1, S.info.fps);
  while (S.playing && i < S.info.frames) {
    const t0 = performance.now();
    await showFrame(i);
    const wait = step - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    i++;
  }
  stopPlaying();
}

// ---------------------------------------------------------------- keyframe folders

async function saveKeys() {
  try {
    const folder = $("keys-folder").value.trim() || null;
    const data = await api("POST", sessionUrl("/save-keyframes"), { folder });
    say(`keyframes saved in ${data.folder}`, "info");
  } catch (e) { say(e.message); }
}

async function loadKeys() {
  try {
    const folder = $("keys-folder").value.trim() || null;
    const data = await api("POST", sessionUrl("/load-keyframes"), { folder });
    S.timeline = data.timeline;
    say(`loaded ${data.keyframes.length} keyframes: press Track`, "info");
    updateJobUi();
    showFrame(data.keyframes[0]);
  } catch (e) { say(e.message); }
}

// ---------------------------------------------------------------- liveness

function startHeartbeat() {
  if (S.heartbeatTimer) clearInterval(S.heartbeatTimer);
  S.heartbeatTimer = setInterval(() => {
    if (S.sid && !S.lost) api("POST", sessionUrl("/heartbeat")).catch(() => {});
  }, 1000 * S.cfg.heartbeat_s);
}

window.addEventListener("pagehide", () => {
  if (S.sid && !S.lost) navigator.sendBeacon(sessionUrl("/bye"));
});

// ---------------------------------------------------------------- live view

function setupLive(status) {
  $("live").hidden = false;
  $("live-title").textContent = status.title ? `· ${status.title}` : "";
  $("live-before").src = "/live/before.mjpg";
  $("live-after").src = "/live/after.mjpg";
  const draw = $("live-draw");
  let box = null;
  const pos = (e) => {
    const r = draw.getBoundingClientRect();
    return { x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height };
  };
  const paintBox = () => {
    const ctx = draw.getContext("2d");
    draw.width = draw.clientWidth; draw.height = draw.clientHeight;
    ctx.clearRect(0, 0, draw.width, draw.height);
    if (!box) return;
    ctx.strokeStyle = "#ffc53d"; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
    ctx.strokeRect(box.x0 * draw.width, box.y0 * draw.height,
                   (box.x1 - box.x0) * draw.width, (box.y1 - box.y0) * draw.height);
  };
  draw.onpointerdown = (e) => { draw.setPointerCapture(e.pointerId); const p = pos(e); box = { x0: p.x, y0: p.y, x1: p.x, y1: p.y }; paintBox(); };
  draw.onpointermove = (e) => { if (!box) return; const p = pos(e); box.x1 = p.x; box.y1 = p.y; paintBox(); };
  draw.onpointerup = async () => {
    if (!box) return;
    const size = S.liveSize;
    const b = box; box = null; paintBox();
    if (!size) return;
    const x = Math.min(b.x0, b.x1) * size[0], y = Math.min(b.y0, b.y1) * size[1];
    const w = Math.abs(b.x1 - b.x0) * size[0], h = Math.abs(b.y1 - b.y0) * size[1];
    if (w < 3 || h < 3) { say("the box is empty: drag a rectangle around the object"); return; }
    try { await api("POST", "/api/live/box", { box: [x, y, w, h].map(Math.round) }); say(""); }
    catch (e) { say(e.message); }
  };
  $("live-clear").onclick = () => api("POST", "/api/live/clear").catch((e) => say(e.message));
  const refresh = async () => {
    try {
      const s = await api("GET", "/api/live");
      S.liveSize = s.size;
      $("live-clear").hidden = !s.controllable;
      draw.hidden = !s.controllable;
      const st = s.stats || {};
      $("live-stats").textContent = s.running
        ? `frames ${st.frames_out ?? "?"} / ${st.frames_in ?? "?"} · dropped ${st.dropped ?? 0} · ` +
          `${(st.fps_out ?? 0).toFixed ? (st.fps_out ?? 0).toFixed(1) : st.fps_out} frames/s · ` +
          `latency p50 ${Math.round(st.latency_ms_p50 ?? 0)} ms`
        : "the source has ended";
      if (s.running) setTimeout(refresh, 1000);
    } catch (e) { $("live-stats").textContent = "the live source is gone"; }
  };
  refresh();
}

// ---------------------------------------------------------------- wiring

function keydown(e) {
  if (!S.info) return;
  const tag = (e.target.tagName || "").toLowerCase();
  if (tag === "input" && e.target.type !== "range" && e.target.type !== "radio" && e.target.type !== "checkbox") return;
  if (tag === "select" || tag === "textarea") return;
  const big = e.shiftKey ? 10 : 1;
  if (e.key === "ArrowRight") { stopPlaying(); showFrame(S.frame + big); }
  else if (e.key === "ArrowLeft") { stopPlaying(); showFrame(S.frame - big); }
  else if (e.key === "Home") { stopPlaying(); showFrame(0); }
  else if (e.key === "End") { stopPlaying(); showFrame(S.info.frames - 1); }
  else if (e.key === " " && hasResult()) play();
  else return;
  e.preventDefault();
}

// Wired at once (before the configuration arrives), so that nothing reaches the browser's
// default actions (a form submitted natively would reload the page).
const ready = (async () => {
  S.cfg = await api("GET", "/api/config");
})();
$("open-form").onsubmit = (e) => {
  e.preventDefault();
  const p = $("path").value.trim();
  if (p) ready.then(() => openPath(p), (err) => say(err.message));
};
$("upload").onchange = (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (file) ready.then(() => upload(file), (err) => say(err.message));
};

async function main() {
  try {
    await ready;
  } catch (e) { say(e.message); return; }
  $("version").textContent = "moebius-video " + S.cfg.version;
  for (const [id, names, value] of [["fill", S.cfg.fills, S.cfg.fill], ["tracker", S.cfg.trackers, S.cfg.tracker]]) {
    const select = $(id);
    for (const name of names) select.add(new Option(name, name, false, name === value));
  }
  $("dilate").value = S.cfg.dilate;
  $("slider").oninput = (e) => { stopPlaying(); showFrame(+e.target.value); };
  $("prev").onclick = () => showFrame(S.frame - 1);
  $("next").onclick = () => showFrame(S.frame + 1);
  $("brush").oninput = (e) => { $("brush-size").textContent = e.target.value; };
  const view = $("view");
  view.addEventListener("pointerdown", onPointerDown);
  view.addEventListener("pointermove", onPointerMove);
  view.addEventListener("pointerup", onPointerUp);
  view.addEventListener("pointercancel", () => { S.drag = null; render(); });
  $("timeline").addEventListener("pointerdown", (e) => { $("timeline").setPointerCapture(e.pointerId); timelineSeek(e); });
  $("timeline").addEventListener("pointermove", (e) => { if (e.buttons & 1) timelineSeek(e); });
  $("delete-key").onclick = deleteKey;
  $("track").onclick = startTrack;
  $("remove").onclick = startRemove;
  $("track-cancel").onclick = cancelJob;
  $("remove-cancel").onclick = cancelJob;
  $("play").onclick = play;
  $("save-result").onclick = saveResult;
  $("save-keys").onclick = saveKeys;
  $("load-keys").onclick = loadKeys;
  document.addEventListener("keydown", keydown);
  window.addEventListener("resize", () => { layout(); drawTimeline(); });

  if (!S.cfg.editor) { $("open-form").hidden = true; }
  if (S.cfg.live) {
    try { setupLive(await api("GET", "/api/live")); } catch (e) { say(e.message); }
  }
  if (!S.cfg.editor) return;
  const hash = new URLSearchParams(location.hash.slice(1));
  const sid = hash.get("s");
  if (sid) {
    S.sid = sid;
    try { attach(await api("GET", `/api/sessions/${sid}`)); return; }
    catch (e) { S.sid = null; S.lost = false; say(e.message); history.replaceState(null, "", "#"); }
  }
  if (S.cfg.video) {
    $("path").value = S.cfg.video;
    await openPath(S.cfg.video, S.cfg.keyframes);
  }
}

main().finally(() => { document.body.dataset.ready = "1"; });
