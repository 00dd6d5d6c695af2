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
const MAX_RETRIES = 40;
let rfb = null, mode = "view", status = root.dataset.status, ended = FINAL.includes(status);
const renderedEnded = ended; // the server rendered the whole result: the replay only fills the log
let RFB = null, loads = 0, connectSeq = 0, retryTimer = null, retries = 0;

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

function setLive(text, kind = "") {
  liveStatus.textContent = text;
  liveStatus.className = `small live-status ${kind}`.trim();
}

function markStarted(ts) {
  const started = document.getElementById("started");
  if (!started || !started.hidden) return;
  const time = started.querySelector("time"), when = ts || Date.now() / 1000;
  time.textContent = "just now";
  time.dataset.ts = String(when);
  time.title = new Date(when * 1000).toLocaleString();
  started.hidden = false;
}

function note(text, ts) {
  const item = document.createElement("li");
  const when = new Date((ts || Date.now() / 1000) * 1000).toLocaleTimeString();
  item.textContent = `${when} · ${text}`;
  log.appendChild(item);
}

function stateText(event) {
  const state = event.state, error = event.result?.error;
  if (state === "running") {
    return `running on ${event.worker_id || "a worker"}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ""}`;
  }
  if (state === "retrying") return `retrying: ${event.reason || "the previous attempt did not finish"}`;
  return `${state.replace("_", " ")}${error && error !== state ? `: ${error}` : ""}`;
}

function onState(event) {
  const state = event.state;
  note(stateText(event), event.ts);
  if (renderedEnded) return;
  if (state === "running") {
    if ((event.attempt || 1) > 1) {
      document.querySelectorAll("#steps .step").forEach((li) => {
        li.className = "step pending";
        li.querySelector(".took").textContent = "";
        li.querySelector(".err").textContent = "";
      });
    }
    setStatus("running");
    markStarted(event.ts);
    connect("view", (event.attempt || 1) > 1); // a new attempt runs on a new display
  } else if (state === "retrying") {
    setStatus("retrying");
  } else if (FINAL.includes(state)) {
    setStatus(state);
    finish();
  }
}

function onStep(event, started) {
  const li = stepItem(event.index);
  if (!li || renderedEnded) return;
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

// noVNC's client comes from a worker, through the gateway (one path for every task, so the
// browser caches it); it is there only while some task runs, so a failed load is retried.
async function loadRFB() {
  if (!RFB) {
    const retry = loads++ ? `?retry=${loads}` : ""; // a failed module load is not fetched again
    ({ default: RFB } = await import(`/live/novnc/core/rfb.js${retry}`));
  }
  return RFB;
}

function retryLater(text) {
  clearTimeout(retryTimer);
  if (ended || !["running", "retrying"].includes(status)) return;
  if (retries >= MAX_RETRIES) {
    setLive("the live view is not available", "off");
    return;
  }
  setLive(text);
  retryTimer = setTimeout(() => connect(mode), Math.min(500 * 2 ** Math.min(retries, 3), 4000));
  retries += 1;
}

function drop() {
  if (!rfb) return;
  rfb._pilothouseReplaced = true;
  rfb.disconnect();
  rfb = null;
}

async function connect(wanted, fresh = false) {
  if (ended || root.dataset.liveView !== "yes") return;
  if (rfb && mode === wanted && !fresh) return;
  clearTimeout(retryTimer);
  drop();
  mode = wanted;
  const mine = ++connectSeq;
  try {
    await loadRFB();
  } catch (err) {
    if (mine === connectSeq) retryLater("waiting for the live view…");
    return;
  }
  if (mine !== connectSeq || ended) return; // a newer connect() or the end overtook this one
  screen.innerHTML = "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const conn = new RFB(screen, `${scheme}://${location.host}/live/${taskId}/websockify?mode=${wanted}`,
                       { wsProtocols: ["binary"] });
  conn.viewOnly = wanted !== "control";
  conn.scaleViewport = true;
  conn.background = "#0d1117";
  conn.addEventListener("connect", () => {
    retries = 0;
    setLive(wanted === "control" ? "you have control" : "live (view only)", wanted === "control" ? "control" : "on");
    screen.classList.toggle("controlled", wanted === "control");
  });
  conn.addEventListener("disconnect", () => {
    if (conn._pilothouseReplaced) return;
    rfb = null;
    screen.classList.remove("controlled");
    if (ended) { setLive("the task has ended"); return; }
    if (mode === "control") setControl(false); // control ended (the gateway hands it back): watch again
    mode = "view";
    retryLater("reconnecting…");
  });
  rfb = conn;
}

function setControl(mine) {
  if (!takeButton) return;
  takeButton.hidden = mine || status !== "running";
  backButton.hidden = !mine;
  controlNote.hidden = !mine;
}

async function api(method, path) {
  const response = await fetch(path, { method, headers: { "X-CSRFToken": csrf } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// Take control (POST) or hand back (DELETE), then reconnect in the matching mode.
function controlButton(button, method, mine, failure) {
  button?.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(method, `/api/v1/tasks/${taskId}/control`);
      setControl(mine);
      await connect(mine ? "control" : "view");
    } catch (err) {
      note(`${failure}: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
}

controlButton(takeButton, "POST", true, "could not take control");
controlButton(backButton, "DELETE", false, "could not hand back");

// Cancel without leaving the page (the form still works without scripts): the stream tells
// when the task has stopped.
const cancelForm = document.getElementById("cancel-form");
cancelForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = cancelForm.querySelector("button");
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    const answer = await api("POST", `/api/v1/tasks/${taskId}/cancel`);
    note(`cancel requested: ${answer.cancel}`);
  } catch (err) {
    note(`could not cancel: ${err.message}`);
    button.disabled = false;
    button.textContent = "Cancel";
  }
});

// Once the recorder has the final state in the database, reload: the server renders the results.
async function reloadWhenRecorded(deadline) {
  try {
    const task = await api("GET", `/api/v1/tasks/${taskId}`);
    if (FINAL.includes(task.status) || Date.now() > deadline) { location.reload(); return; }
  } catch (err) {
    if (Date.now() > deadline) { location.reload(); return; }
  }
  setTimeout(() => reloadWhenRecorded(deadline), 400);
}

function finish() {
  if (ended) return;
  ended = true;
  clearTimeout(retryTimer);
  drop();
  setControl(false);
  if (takeButton) takeButton.hidden = true;
  setLive("the task has ended");
  reloadWhenRecorded(Date.now() + 20000);
}

follow();
if (status === "running") connect("view");
