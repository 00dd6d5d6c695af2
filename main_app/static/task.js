// The task page: the step timeline (server-sent events from the task's stream), the live
// view (noVNC, through the main app's gateway), cancel and take control / hand back.
const root = document.getElementById("task");
const taskId = root.dataset.taskId;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const screen = document.getElementById("screen");
const liveStatus = document.getElementById("live-status");
const takeButton = document.getElementById("take-control");
const backButton = document.getElementById("hand-back");
const controlNote = document.getElementById("control-note");
const log = document.getElementById("log");
const FINAL = ["succeeded", "failed", "cancelled", "timed_out"];
let rfb = null, mode = "view", status = root.dataset.status, ended = FINAL.includes(status);

function stepItem(index) {
  return document.querySelector(`#steps [data-index="${index === null ? "start" : index}"]`);
}

function setStatus(state) {
  status = state;
  root.dataset.status = state;
  document.getElementById("status").innerHTML =
    `<span class="badge s-${state}">${state.replace("_", " ")}</span>`;
  document.getElementById("position")?.remove();
  if (takeButton) takeButton.hidden = state !== "running" || mode === "control";
}

function note(text, ts) {
  const item = document.createElement("li");
  const when = new Date((ts || Date.now() / 1000) * 1000).toLocaleTimeString();
  item.textContent = `${when} · ${text}`;
  log.appendChild(item);
}

function onState(event) {
  const state = event.state;
  if (state === "running") {
    if ((event.attempt || 1) > 1) {
      document.querySelectorAll("#steps .step").forEach((li) => { li.className = "step pending"; });
    }
    note(`running on ${event.worker_id || "a worker"}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ""}`, event.ts);
    setStatus("running");
    connect("view");
  } else if (state === "retrying") {
    note(`retrying: ${event.reason || "the previous attempt did not finish"}`, event.ts);
    setStatus("retrying");
  } else if (state === "queued") {
    note("queued", event.ts);
  } else if (FINAL.includes(state)) {
    note(`${state.replace("_", " ")}${event.result?.error ? `: ${event.result.error}` : ""}`, event.ts);
    setStatus(state);
    finish();
  }
}

function onStep(event, started) {
  const li = stepItem(event.index);
  if (!li) return;
  li.className = `step ${started ? "running" : event.status}`;
  if (!started) {
    li.querySelector(".took").textContent = `${Math.round(event.duration_ms)} ms`;
    li.querySelector(".err").textContent = event.error || "";
  }
}

function follow() {
  const source = new EventSource(`/api/v1/tasks/${taskId}/events`);
  source.addEventListener("state", (m) => onState(JSON.parse(m.data)));
  source.addEventListener("step_started", (m) => onStep(JSON.parse(m.data), true));
  source.addEventListener("step_finished", (m) => onStep(JSON.parse(m.data), false));
  source.addEventListener("paused", (m) => note("waiting: a human has control", JSON.parse(m.data).ts));
  source.addEventListener("resumed", (m) => note("control handed back: going on", JSON.parse(m.data).ts));
  source.addEventListener("control", (m) => {
    const e = JSON.parse(m.data);
    note(`${e.by} ${e.state === "taken" ? "took control" : "handed control back"}`, e.ts);
  });
  source.addEventListener("end", () => source.close());
  source.onerror = () => { document.getElementById("timeline-status").textContent = ended ? "" : "reconnecting…"; };
  source.onopen = () => { document.getElementById("timeline-status").textContent = ended ? "" : "live"; };
}

async function connect(wanted) {
  if (ended || root.dataset.liveView !== "yes") return;
  if (rfb && mode === wanted) return;
  if (rfb) { rfb._pilothouseReplaced = true; rfb.disconnect(); }
  mode = wanted;
  let RFB;
  try {
    ({ default: RFB } = await import(`/live/${taskId}/novnc/core/rfb.js`));
  } catch (err) {
    liveStatus.textContent = "the live view is not available (the task may have ended)";
    return;
  }
  screen.innerHTML = "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const conn = new RFB(screen, `${scheme}://${location.host}/live/${taskId}/websockify?mode=${wanted}`,
                       { wsProtocols: ["binary"] });
  conn.viewOnly = wanted !== "control";
  conn.scaleViewport = true;
  conn.background = "#0d1117";
  conn.addEventListener("connect", () => {
    liveStatus.textContent = wanted === "control" ? "● you have control" : "● live (view only)";
    screen.classList.toggle("controlled", wanted === "control");
  });
  conn.addEventListener("disconnect", () => {
    if (conn._pilothouseReplaced) return;
    rfb = null;
    screen.classList.remove("controlled");
    if (mode === "control" && !ended) { setControl(false); connect("view"); return; }
    liveStatus.textContent = ended ? "the task has ended" : "disconnected";
  });
  rfb = conn;
}

function setControl(mine) {
  if (!takeButton) return;
  takeButton.hidden = mine || status !== "running";
  backButton.hidden = !mine;
  controlNote.hidden = !mine;
  if (!mine) mode = rfb ? mode : "view";
}

async function api(method, path) {
  const response = await fetch(path, { method, headers: { "X-CSRFToken": csrf } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

takeButton?.addEventListener("click", async () => {
  takeButton.disabled = true;
  try {
    await api("POST", `/api/v1/tasks/${taskId}/control`);
    setControl(true);
    await connect("control");
  } catch (err) {
    note(`could not take control: ${err.message}`);
  } finally {
    takeButton.disabled = false;
  }
});

backButton?.addEventListener("click", async () => {
  backButton.disabled = true;
  try {
    await api("DELETE", `/api/v1/tasks/${taskId}/control`);
    setControl(false);
    await connect("view");
  } catch (err) {
    note(`could not hand back: ${err.message}`);
  } finally {
    backButton.disabled = false;
  }
});

function finish() {
  if (ended) return;
  ended = true;
  if (rfb) { rfb._pilothouseReplaced = true; rfb.disconnect(); rfb = null; }
  liveStatus.textContent = "the task has ended";
  setTimeout(() => location.reload(), 600); // show the results, rendered by the server
}

follow();
if (status === "running") connect("view");
