"""The worker service end to end: latency through Celery, throughput, CPU and memory of a slot.

    .venv/bin/python bench/worker.py                 # 30 tasks per measurement (≈ 2 min on 2 cores)
    .venv/bin/python bench/worker.py --tasks 10 --json

It starts everything itself: a private ``redis-server`` on a free port, the bundled demo site,
and the real worker stack (``worker/bin/start-supervisord.sh`` with ``worker/supervisord.conf``:
headed Chromium on Xvfb, two x11vnc per slot, websockify, Celery, the API) on free ports and
displays, twice: first with ``JOB_CONCURRENCY=1``, then with ``=2``. The task is the one of
``bench/engine.py``: go to the demo site's ``/``, extract the ``<h1>``, screenshot the viewport.

latency (the 1-slot stack)
    Tasks are sent exactly as the main app sends them (a plain Celery client, ``send_task(
    "automation.run", kwargs={task_id, spec, owner, queued_at}, queue=..., time_limit=...)``)
    and awaited with ``AsyncResult.get()``; a thread follows the task's Redis stream (``XREAD
    BLOCK``) and notes when the final state event appears. In the same run, interleaved round
    robin with ``--gap-ms`` of idle time before every task: the engine alone (``Slot.run`` in
    this process, headed on its own Xvfb, same flags) and raw Playwright (goto + inner_text +
    screenshot on a page kept open, headed on its own Xvfb). "Celery + stream overhead" is
    median(worker) - median(engine alone). Spaced tasks give the slot time to prepare its
    spare context, as in the engine benchmark's spaced regime.
throughput (each stack)
    ``--tasks`` tasks sent at once; wall time from the first send until every result is in.
    CPU is user + system time of the whole stack: every process carrying the stack's marker
    and their descendants (Chromium's children overwrite their environment, so the marker alone
    misses them), including the children times of what they reaped; the stack's idle rate is
    measured first and taken off for the "net" figure. Redis and this client are reported apart.
idle memory (each stack, just after it started and after its throughput run, idle)
    PSS of everything a slot adds: its Celery pool process, the Playwright driver (node) under
    it, the Chromium tree (and its crashpad handlers), the slot's Xvfb and both x11vnc servers.
    The per-worker processes (supervisord, the Celery main process, websockify, the API) are
    shown apart. PSS splits shared pages between the processes that map them: the 2-slot
    figure per slot is what one more slot costs, and any other Chromium on the machine (its
    count is printed) lowers the file-backed part, and so does the kernel dropping clean file
    pages (this VM runs DAMON pageout on pages idle for a minute). The anonymous + shmem part
    of the PSS changes with neither, and is shown too.

"other load" is the CPU the rest of the machine used meanwhile, in cores (busy CPU minus the
stack, Redis and this process tree); above 0.25 the figures are disturbed and the output says so.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402
from celery import Celery  # noqa: E402

from bench.engine import HEADING, NOISY_LOAD, _system_busy, engine_variant, machine, playwright_variant  # noqa: E402
from bench.engine import xvfb as own_xvfb  # noqa: E402
from tests.fixtures.redis_server import RedisServer  # noqa: E402
from tests.fixtures.worker_stack import WorkerStack  # noqa: E402
from worker.demo_site import serve  # noqa: E402
from worker.settings import EngineSettings  # noqa: E402
from worker.spec import TASK_NAME  # noqa: E402
from worker.spec.channels import EVENT_FIELD, FINAL_STATES, events_stream, slot_key, time_limit_for  # noqa: E402

QUEUE = "automation"
TASK_TIMEOUT_S = 120  # waiting for one result
SETTLE_S = 1.0  # after warm-up, before measuring
IDLE_S = 2.0  # the stack's idle CPU rate is measured over this long
TAIL_S = 0.5  # after the last back-to-back task: the slot recycles its context
MEMORY_SETTLE_S = 3.0  # idle before reading PSS
PSS_TARGET_MB = 400
OVERHEAD_TARGET_MS = 15
MIB = 2**20
LABELS = {"raw": "raw Playwright (open page)", "engine": "engine alone (Slot.run)",
          "stream": "worker: final stream event", "get": "worker: AsyncResult.get()"}


# -- CPU of the stack and of everything else -----------------------------------------------------

def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU-seconds of ``procs`` and of the children they reaped."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            c = proc.cpu_times()
            total += c.user + c.system + c.children_user + c.children_system
    return total


def cpu_by_kind(procs: list[psutil.Process], names: dict[tuple[int, float], str]) -> dict[str, float]:
    """The same, per kind of process (``names`` caches the kinds); what a process reaped counts
    apart (for the zygotes that is the renderers of closed contexts)."""
    out: dict[str, float] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            c = proc.cpu_times()
            key = (proc.pid, proc.create_time())
            kind = names.get(key) or names.setdefault(key, cpu_kind(proc))
            out[kind] = out.get(kind, 0.0) + c.user + c.system
            if reaped := c.children_user + c.children_system:
                gone = "Chromium renderer" if kind == "Chromium zygote" else f"{kind}: exited children"
                out[gone] = out.get(gone, 0.0) + reaped
    return out


@dataclasses.dataclass
class CpuSnap:
    t: float
    groups: dict[str, float]  # stack, redis, bench (this process and its other descendants)
    busy: float  # the whole machine's busy CPU-seconds
    kinds: dict[str, float]  # the stack's, per kind of process

    def since(self, a: CpuSnap) -> tuple[float, dict[str, float], float]:
        """Seconds elapsed, CPU-seconds per group, and other load in cores, from ``a`` to this."""
        span = self.t - a.t
        used = {k: self.groups[k] - a.groups[k] for k in self.groups}
        return span, used, max(0.0, self.busy - a.busy - sum(used.values())) / span


class CpuMeter:
    def __init__(self, stack: WorkerStack, redis_pid: int):
        self.stack, self.redis_pid = stack, redis_pid
        self.names: dict[tuple[int, float], str] = {}

    def snap(self) -> CpuSnap:
        t, busy = time.perf_counter(), _system_busy()
        stack = self.stack.processes()
        taken = {p.pid for p in stack} | {self.redis_pid}
        me = psutil.Process()
        mine = [me] + [p for p in me.children(recursive=True) if p.pid not in taken]
        kinds = cpu_by_kind(stack, self.names)
        groups = {"stack": sum(kinds.values()), "redis": cpu_seconds([psutil.Process(self.redis_pid)]),
                  "bench": cpu_seconds(mine)}
        return CpuSnap(t, groups, busy, kinds)

    def idle_stack_cores(self, seconds: float = IDLE_S) -> float:
        a = self.snap()
        time.sleep(seconds)
        span, used, _ = self.snap().since(a)
        return used["stack"] / span


# -- the main app's side: send automation.run, await it, follow the stream -----------------------

def task_spec(url: str) -> dict[str, Any]:
    return {"version": 1, "start_url": url, "timeout_s": 60,
            "steps": [{"action": "extract", "name": "heading", "selector": "h1"},
                      {"action": "screenshot", "name": "page"}]}


class MainAppClient:
    """A plain Celery client configured as the main app's (nothing but broker and backend)."""

    def __init__(self, redis_url: str):
        self.celery = Celery("pilothouse-bench", broker=redis_url, backend=redis_url)
        self.celery.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
        self.threads = ThreadPoolExecutor(2, thread_name_prefix="follow")

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
        self.celery.close()
        self.redis.close()

    def send(self, spec: dict[str, Any], task_id: str | None = None) -> Any:
        task_id = task_id or str(uuid.uuid4())
        return self.celery.send_task(
            TASK_NAME, kwargs={"task_id": task_id, "spec": spec, "owner": "bench", "queued_at": time.time()},
            task_id=task_id, queue=QUEUE, time_limit=time_limit_for(spec["timeout_s"]))

    def follow(self, task_id: str) -> tuple[float, list[dict[str, Any]]]:
        """Read the task's stream as it grows; return when its final state appeared, and the events."""
        key, last, evs = events_stream(task_id), "0-0", []
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while time.monotonic() < deadline:
            for _, entries in self.redis.xread({key: last}, block=1000) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    evs.append(json.loads(fields[EVENT_FIELD]))
                    if evs[-1]["type"] == "state" and evs[-1]["state"] in FINAL_STATES:
                        return time.perf_counter(), evs
        raise TimeoutError(f"no final state on {key}")

    def run(self, spec: dict[str, Any]) -> dict[str, float]:
        """One task, sent and awaited: ms to the final stream event and to get(), and their parts."""
        task_id = str(uuid.uuid4())
        follower = self.threads.submit(self.follow, task_id)
        t0, sent_at = time.perf_counter(), time.time()
        result = checked(self.send(spec, task_id).get(timeout=TASK_TIMEOUT_S))
        got = time.perf_counter()
        seen, evs = follower.result(TASK_TIMEOUT_S)
        stream, get = (seen - t0) * 1000, (got - t0) * 1000
        return {"stream": stream, "get": get, **worker_parts(evs, result, sent_at, stream, get)}


def worker_parts(evs: list[dict[str, Any]], result: dict[str, Any], sent_at: float, stream_ms: float,
                 get_ms: float) -> dict[str, float]:
    """Where a worker task's time went (ms), from the events' times (the worker's clock, which is
    this machine's) and the result: sent -> running -> first step -> steps -> final -> get()."""
    ts = {e["state"]: e["ts"] for e in evs if e["type"] == "state"}
    steps = [e["ts"] for e in evs if e["type"] in ("step_started", "step_finished")]
    final = ts[result["status"]]
    in_steps = sum(s["duration_ms"] for s in result["steps"])
    return {"send_to_running": (ts["running"] - sent_at) * 1000,
            "running_to_first_step": (steps[0] - ts["running"]) * 1000,
            "steps": in_steps, "runner_minus_steps": result["duration_ms"] - in_steps,
            "last_step_to_final": (final - steps[-1]) * 1000, "final_to_get": get_ms - stream_ms,
            "runner": result["duration_ms"], "outside_runner": get_ms - result["duration_ms"]}


def checked(result: dict[str, Any]) -> dict[str, Any]:
    if result.get("status") != "succeeded" or result.get("extracted", {}).get("heading") != HEADING:
        raise RuntimeError(f"task {result.get('status')}: {result.get('error')} {result.get('extracted')}")
    return result


# -- latency: worker vs the engine alone vs raw Playwright, interleaved --------------------------

def timed(task: Callable[[], dict[str, float]]) -> Callable[[], dict[str, float]]:
    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        parts = task()
        return {"wall": (time.perf_counter() - t0) * 1000, **parts}
    return run


@contextlib.contextmanager
def baselines(base: EngineSettings, url: str, workdir: Path) -> Iterator[dict[str, Callable[[], dict]]]:
    """The engine alone and raw Playwright in this process, each headed on its own Xvfb."""
    with contextlib.ExitStack() as stack:
        tasks = {}
        for name in ("engine", "raw"):
            settings = dataclasses.replace(base, display=stack.enter_context(own_xvfb()))
            if name == "engine":
                task = stack.enter_context(engine_variant("engine", settings, url, workdir / "engine"))
            else:
                task = stack.enter_context(playwright_variant("raw", settings, url))
            tasks[name] = timed(task)
        yield tasks


def latency_phase(tasks: dict[str, Callable[[], dict]], rounds: int, warmup: int, gap_s: float,
                  cpu: CpuMeter) -> dict[str, Any]:
    """Round robin, the order rotating each round, ``gap_s`` of idle time before every task."""
    for task in tasks.values():
        for _ in range(warmup):
            task()
    time.sleep(SETTLE_S)
    names, records = list(tasks), {name: [] for name in tasks}
    a = cpu.snap()
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            time.sleep(gap_s)
            records[name].append(tasks[name]())
    _, _, other = cpu.snap().since(a)
    walls = {"raw": [r["wall"] for r in records["raw"]], "engine": [r["wall"] for r in records["engine"]],
             "stream": [r["stream"] for r in records["worker"]], "get": [r["get"] for r in records["worker"]]}
    return {"tasks": rounds, "gap_ms": round(gap_s * 1000), "other_load_cores": round(other, 2),
            "wall_ms": {k: summary(v) for k, v in walls.items()},
            "parts_ms": {k: medians(v) for k, v in records.items()}}


def summary(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"median": round(statistics.median(v), 1), "min": round(v[0], 1),
            "p90": round(v[int(0.9 * (len(v) - 1))], 1), "max": round(v[-1], 1), "n": len(v)}


def medians(records: list[dict[str, float]]) -> dict[str, float]:
    keys = dict.fromkeys(k for r in records for k in r)
    return {k: round(statistics.median(r[k] for r in records if k in r), 1) for k in keys}


# -- throughput: N tasks at once ------------------------------------------------------------------

def throughput_phase(client: MainAppClient, spec: dict[str, Any], n: int, slots: int,
                     cpu: CpuMeter) -> dict[str, Any]:
    idle = cpu.idle_stack_cores()
    a = cpu.snap()
    t0 = time.perf_counter()
    pending = [client.send(spec) for _ in range(n)]
    results = [checked(p.get(timeout=TASK_TIMEOUT_S)) for p in pending]
    wall = time.perf_counter() - t0
    time.sleep(TAIL_S)
    b = cpu.snap()
    span, used, other = b.since(a)
    net = (used["stack"] - idle * span) / n
    return {"slots": slots, "tasks": n, "wall_s": round(wall, 2), "tasks_per_s": round(n / wall, 2),
            "stack_cpu_per_task_s": round(used["stack"] / n, 3), "net_cpu_per_task_s": round(net, 3),
            "idle_stack_cores": round(idle, 3), "stack_cores_busy": round(used["stack"] / span, 2),
            "redis_cpu_per_task_s": round(used["redis"] / n, 4),
            "client_cpu_per_task_s": round(used["bench"] / n, 4),
            "cpu_bound_tasks_per_s": round((os.cpu_count() or 1) * n / used["stack"], 2),
            "runner_ms": summary([r["duration_ms"] for r in results]),
            "other_load_cores": round(other, 2),
            "cpu_per_task_by_process_s": per_task_by_kind(a, b, n)}


def per_task_by_kind(a: CpuSnap, b: CpuSnap, n: int) -> dict[str, float]:
    used = {k: (b.kinds.get(k, 0.0) - a.kinds.get(k, 0.0)) / n for k in b.kinds.keys() | a.kinds.keys()}
    return {k: round(v, 3) for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v >= 0.0005}


# -- memory of an idle slot ----------------------------------------------------------------------

def _name(proc: psutil.Process, cmd: list[str]) -> str:
    return os.path.basename(cmd[0]) if cmd else proc.name()


def slot_kind(proc: psutil.Process, pool_pid: int) -> str:
    cmd = proc.cmdline()
    name = _name(proc, cmd)
    if proc.pid == pool_pid:
        return "pool process (celery)"
    if name == "node":
        return "Playwright driver (node)"
    if name in ("Xvfb", "x11vnc"):
        return name + (" view-only" if "-viewonly" in cmd else " control" if name == "x11vnc" else "")
    if "crashpad" in name:
        return "Chromium crashpad handler"
    for prefix in ("--utility-sub-type=", "--type="):
        for arg in cmd:
            if arg.startswith(prefix):
                return "Chromium " + arg.split("=", 1)[1].rsplit(".", 1)[-1]
    return "Chromium browser"


def cpu_kind(proc: psutil.Process) -> str:
    cmd = proc.cmdline()
    name = _name(proc, cmd)
    if name in ("node", "Xvfb", "x11vnc") or "chrom" in name:
        return slot_kind(proc, -1)
    return "celery (main + pool)" if "celery" in " ".join(cmd) else shared_kind(proc)


def shared_kind(proc: psutil.Process) -> str:
    cmd = proc.cmdline()
    line = " ".join(cmd)
    for needle, kind in (("supervisord", "supervisord"), ("worker.live.proxy_server", "websockify"),
                         ("gunicorn", "API (gunicorn)"), ("celery", "celery main process")):
        if needle in line:
            return kind
    return _name(proc, cmd)


def in_slot(proc: psutil.Process, display: str, pool_tree: set[int]) -> bool:
    """The slot's pool process and what runs under it, its crashpad handlers (reparented to
    init; their environment names the display), its Xvfb and its x11vnc servers."""
    cmd = proc.cmdline()
    name = _name(proc, cmd)
    if proc.pid in pool_tree:
        return True
    if name == "Xvfb":
        return cmd[1:2] == [display]
    if name == "x11vnc":
        return "-display" in cmd and cmd[cmd.index("-display") + 1] == display
    return "crashpad" in name and proc.environ().get("DISPLAY") == display


def add_memory(into: dict[str, list[float]], kind: str, proc: psutil.Process) -> None:
    """Add the process's memory (MiB) to ``into[kind]`` = [PSS, PSS of anonymous and shared memory
    (what cannot be dropped and read back from a file), USS, processes]: /proc/PID/smaps_rollup."""
    kb: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{proc.pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            kb[key] = float(value.split()[0])
    except (OSError, ValueError) as exc:
        raise psutil.NoSuchProcess(proc.pid) from exc
    entry = into.setdefault(kind, [0.0, 0.0, 0.0, 0])
    entry[0] += kb["Pss"] / 1024
    entry[1] += (kb["Pss_Anon"] + kb["Pss_Shmem"]) / 1024
    entry[2] += (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024
    entry[3] += 1


def _totals(kinds: dict[str, list[float]]) -> dict[str, float]:
    return {key: round(sum(v[i] for v in kinds.values()), 1)
            for i, key in enumerate(("pss_mib", "anon_pss_mib", "uss_mib"))}


def idle_memory(stack: WorkerStack, client: redis.Redis) -> dict[str, Any]:
    """PSS and USS (MiB) per slot and per process kind, and of the per-worker processes."""
    procs = stack.processes()
    records = [client.hgetall(slot_key(stack.worker_id, i)) for i in range(stack.concurrency)]
    slots, shared, placed = [], {}, set()
    for rec in records:
        pool = psutil.Process(int(rec["pid"]))
        tree = {pool.pid} | {p.pid for p in pool.children(recursive=True)}
        kinds: dict[str, list[float]] = {}
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.pid not in placed and in_slot(proc, rec["display"], tree):
                    add_memory(kinds, slot_kind(proc, pool.pid), proc)
                    placed.add(proc.pid)
        slots.append({"index": int(rec["index"]), "display": rec["display"], "kinds": kinds,
                      **_totals(kinds)})
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.pid not in placed:
                add_memory(shared, shared_kind(proc), proc)
    return {"slots": slots, "shared": shared, "shared_totals": _totals(shared),
            "other_chromium_processes": other_chromium({p.pid for p in procs})}


def other_chromium(ours: set[int]) -> int:
    """Chromium processes on the machine outside the stack (they share its pages, lowering PSS)."""
    count = 0
    for proc in psutil.process_iter(["name", "status"]):
        alive = proc.info["status"] != psutil.STATUS_ZOMBIE
        if proc.pid not in ours and alive and "chrom" in (proc.info["name"] or ""):
            count += 1
    return count


# -- one stack, measured ------------------------------------------------------------------------

@contextlib.contextmanager
def worker_stack(redis_url: str, workdir: Path, slots: int) -> Iterator[WorkerStack]:
    stack = WorkerStack(redis_url, workdir, concurrency=slots, worker_id=f"bench-{slots}-slot")
    stack.start(timeout=120)
    try:
        yield stack
    finally:
        if left := stack.stop():
            print(f"warning: stopping the {slots}-slot stack left (and killed): {left}", file=sys.stderr)


def measure_stack(slots: int, args: argparse.Namespace, redis_server: RedisServer, url: str,
                  base: EngineSettings, workdir: Path) -> dict[str, Any]:
    """Latency (1 slot only), throughput and idle memory of one stack with ``slots`` slots."""
    spec = task_spec(url)
    client = MainAppClient(redis_server.url(slots))  # a database of its own per stack
    with worker_stack(redis_server.url(slots), workdir / f"stack-{slots}", slots) as stack, \
            contextlib.closing(client):
        cpu = CpuMeter(stack, redis_server.proc.pid)
        time.sleep(MEMORY_SETTLE_S)
        out: dict[str, Any] = {"slots": slots, "memory_fresh": idle_memory(stack, client.redis)}
        for pending in [client.send(spec) for _ in range(args.warmup * slots)]:  # every slot gets some
            checked(pending.get(timeout=TASK_TIMEOUT_S))
        if slots == 1:
            with baselines(base, url, workdir) as tasks:
                out["latency"] = latency_phase({"worker": lambda: client.run(spec), **tasks}, args.tasks,
                                               args.warmup, args.gap_ms / 1000, cpu)
            _progress(f"latency: worker {out['latency']['wall_ms']['get']['median']} ms, engine "
                      f"{out['latency']['wall_ms']['engine']['median']} ms")
        time.sleep(SETTLE_S)
        out["throughput"] = throughput_phase(client, spec, args.tasks, slots, cpu)
        _progress(f"throughput, {slots} slot(s): {out['throughput']['tasks_per_s']} tasks/s")
        time.sleep(MEMORY_SETTLE_S)
        out["memory"] = idle_memory(stack, client.redis)
    return out


def _progress(line: str) -> None:
    print("  " + line, file=sys.stderr)


# -- reporting -----------------------------------------------------------------------------------

def latency_table(lat: dict[str, Any]) -> str:
    w = lat["wall_ms"]
    head = f"{'':<28} {'median ms':>9} {'min–max ms':>15} {'p90 ms':>7} {'× raw':>6} {'× engine':>8}"
    lines = [f"latency — {lat['tasks']} tasks each, interleaved, {lat['gap_ms']} ms idle before each task, "
             "all headed on Xvfb", head, "-" * len(head)]
    for key in ("raw", "engine", "stream", "get"):
        s = w[key]
        lines.append(f"{LABELS[key]:<28} {s['median']:>9.1f} {s['min']:>7.1f}–{s['max']:>7.1f} "
                     f"{s['p90']:>7.1f} {s['median'] / w['raw']['median']:>6.2f} "
                     f"{s['median'] / w['engine']['median']:>8.2f}")
    lines.append(f"other load {lat['other_load_cores']:.2f} cores" + _noisy(lat["other_load_cores"]))
    lines.append("where the time goes (median ms):")
    for name, parts in lat["parts_ms"].items():
        lines.append(f"  {name:<7} " + "  ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    return "\n".join(lines)


def throughput_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'slots':>5} {'tasks':>5} {'wall s':>6} {'tasks/s':>7} {'CPU-s/task':>10} {'net of idle':>11} "
            f"{'idle cores':>10} {'busy cores':>10} {'runner ms median':>16} {'redis+client CPU-s':>18} "
            f"{'other load':>10}")
    lines = [f"throughput — tasks sent at once, back to back; CPU of the whole stack "
             f"({os.cpu_count()} cores)", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['slots']:>5} {r['tasks']:>5} {r['wall_s']:>6.2f} {r['tasks_per_s']:>7.2f} "
                     f"{r['stack_cpu_per_task_s']:>10.3f} {r['net_cpu_per_task_s']:>11.3f} "
                     f"{r['idle_stack_cores']:>10.3f} {r['stack_cores_busy']:>10.2f} "
                     f"{r['runner_ms']['median']:>16.1f} "
                     f"{r['redis_cpu_per_task_s'] + r['client_cpu_per_task_s']:>18.4f} "
                     f"{r['other_load_cores']:>10.2f}" + _noisy(r["other_load_cores"]))
    lines.append("CPU-s per task by process:")
    for r in rows:
        lines.append(f"  {r['slots']} slot(s): " + "  ".join(
            f"{k} {v:.3f}" for k, v in r["cpu_per_task_by_process_s"].items()))
    return "\n".join(lines)


def _noisy(load: float) -> str:
    return f"  (warning: other load > {NOISY_LOAD} core: disturbed)" if load > NOISY_LOAD else ""


def memory_table(stacks: list[dict[str, Any]]) -> str:
    cols = [(f"{s['slots']} slot(s): slot {slot['index']}", slot)
            for s in stacks for slot in s["memory"]["slots"]]
    kinds = list(dict.fromkeys(k for _, slot in cols for k in slot["kinds"]))
    head = f"{'PSS / of it anon+shmem, MiB (n)':<34}" + "".join(f"{c:>20}" for c, _ in cols)
    lines = ["idle slot memory — after the throughput run, every process a slot adds", head, "-" * len(head)]
    for kind in kinds:
        lines.append(f"{kind:<34}" + "".join(_cell(slot["kinds"].get(kind)) for _, slot in cols))
    fresh = [slot for s in stacks for slot in s["memory_fresh"]["slots"]]
    after = [slot for _, slot in cols]
    for label, key, slots in (("total PSS per slot", "pss_mib", after),
                              ("  of it anonymous + shmem", "anon_pss_mib", after),
                              ("  USS (private to one process)", "uss_mib", after),
                              ("total PSS, stack just started", "pss_mib", fresh),
                              ("  of it anonymous + shmem", "anon_pss_mib", fresh)):
        lines.append(f"{label:<34}" + "".join(f"{slot[key]:>20.1f}" for slot in slots))
    shared = list(dict.fromkeys(k for s in stacks for k in s["memory"]["shared"]))
    head = f"{'per worker, not per slot':<34}" + "".join(f"{s['slots']:>12} slot(s)" for s in stacks)
    lines += ["", head, "-" * len(head)]
    for kind in shared:
        lines.append(f"{kind:<34}" + "".join(_cell(s["memory"]["shared"].get(kind)) for s in stacks))
    lines.append(f"{'total per worker':<34}"
                 + "".join(f"{s['memory']['shared_totals']['pss_mib']:>20.1f}" for s in stacks))
    lines.append("other Chromium processes on the machine (just started, after the run): " + ", ".join(
        f"{s['slots']} slot(s) {s['memory_fresh']['other_chromium_processes']}, "
        f"{s['memory']['other_chromium_processes']}" for s in stacks))
    return "\n".join(lines)


def _cell(entry: list[float] | None) -> str:
    return f"{entry[0]:>9.1f} /{entry[1]:>6.1f} ({entry[3]})" if entry else f"{'–':>20}"


def verdicts(stacks: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, and what CPU per task means for throughput."""
    out = latency_verdicts(stacks[0]["latency"]) if "latency" in stacks[0] else []
    rates = {s["slots"]: s["throughput"]["tasks_per_s"] for s in stacks}
    out.append(f"2 slots never slower than 1: {rates[2]:.2f} vs {rates[1]:.2f} tasks/s -> "
               + ("MET" if rates[2] >= rates[1] else "MISSED"))
    out.append(memory_verdict(stacks))
    out.append(marginal_slot(stacks))
    for s in stacks:
        t = s["throughput"]
        cpu = t["stack_cpu_per_task_s"]
        out.append(f"{s['slots']} slot(s): CPU bound {os.cpu_count()} cores / {cpu:.3f} CPU-s per task = "
                   f"{t['cpu_bound_tasks_per_s']:.2f} tasks/s, ≈ {1 / cpu:.2f} tasks/s per core "
                   f"(measured {t['tasks_per_s']:.2f})")
    return out


def latency_verdicts(lat: dict[str, Any]) -> list[str]:
    out = []
    engine = lat["wall_ms"]["engine"]["median"]
    for key in ("get", "stream"):
        extra = lat["wall_ms"][key]["median"] - engine
        out.append(f"Celery + stream overhead ({LABELS[key]} − engine alone): {extra:+.1f} ms vs "
                   f"≤ {OVERHEAD_TARGET_MS} ms -> {'MET' if extra <= OVERHEAD_TARGET_MS else 'MISSED'}")
    worker, alone = lat["parts_ms"]["worker"], lat["parts_ms"]["engine"]
    outside = worker["outside_runner"] - alone["outside_runner"]
    inside = worker["runner_minus_steps"] - alone["runner_minus_steps"]
    out.append(f"the same from the parts, without the steps' noise: outside the runner (get() − runner) "
               f"worker {worker['outside_runner']:.1f} vs engine alone {alone['outside_runner']:.1f} ms, "
               f"in the runner beyond its steps (step events) {worker['runner_minus_steps']:.1f} vs "
               f"{alone['runner_minus_steps']:.1f} ms: {outside + inside:+.1f} ms vs ≤ "
               f"{OVERHEAD_TARGET_MS} ms -> {'MET' if outside + inside <= OVERHEAD_TARGET_MS else 'MISSED'}")
    return out


def marginal_slot(stacks: list[dict[str, Any]]) -> str:
    """What one more slot adds to a worker: total PSS of the 2-slot worker minus the 1-slot one
    (every process of each), for each phase in which neither had other Chromium beside it."""
    by_slots = {s["slots"]: s for s in stacks}
    figures = []
    for phase, label in (("memory_fresh", "just started"), ("memory", "after the run")):
        one, two = by_slots[1][phase], by_slots[2][phase]
        if one["other_chromium_processes"] or two["other_chromium_processes"]:
            continue
        totals = [sum(slot["pss_mib"] for slot in m["slots"]) + m["shared_totals"]["pss_mib"]
                  for m in (one, two)]
        figures.append(f"{totals[1] - totals[0]:.1f} MiB {label}")
    if not figures:
        return "one more slot adds: not judged (other Chromium processes ran during the measurements)"
    worst = max(float(f.split()[0]) for f in figures)
    verdict = "MET" if worst * MIB / 1e6 <= PSS_TARGET_MB else "MISSED"
    return (f"one more slot adds (2-slot worker − 1-slot worker, total PSS): {', '.join(figures)} "
            f"-> ≤ {PSS_TARGET_MB} MB {verdict}")


def memory_verdict(stacks: list[dict[str, Any]]) -> str:
    """Judged on the largest idle slot measured (just started or after the run, 1 or 2 slots) while
    no other Chromium ran on the machine: one that shares the file pages lowers the PSS."""
    measured = [(m["other_chromium_processes"], slot) for s in stacks
                for m in (s["memory_fresh"], s["memory"]) for slot in m["slots"]]
    clean = [slot for others, slot in measured if not others] or [slot for _, slot in measured]
    worst = max(slot["pss_mib"] for slot in clean)
    anon = max(slot["anon_pss_mib"] for slot in clean)
    shared = sum(1 for others, _ in measured if others)
    verdict = "MET" if worst * MIB / 1e6 <= PSS_TARGET_MB else "MISSED"
    if shared == len(measured):
        verdict = "NOT JUDGED: other Chromium processes ran during every measurement (PSS understated)"
    elif shared:
        verdict += f" ({shared} of {len(measured)} measurements left out: other Chromium processes ran)"
    return (f"idle slot ≤ {PSS_TARGET_MB} MB PSS: largest {worst:.1f} MiB = {worst * MIB / 1e6:.1f} MB -> "
            f"{verdict}; its anonymous + shmem part: at most {anon:.1f} MiB")


# -- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/worker.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=30, help="measured tasks per variant (latency) and "
                        "per stack (throughput) (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured tasks per variant and slot first "
                        "(default: %(default)s)")
    parser.add_argument("--gap-ms", type=int, default=300, help="idle time before each latency task "
                        "(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.warmup < 1 or args.gap_ms < 0:
        parser.error("need --tasks >= 1, --warmup >= 1 and --gap-ms >= 0")
    base = dataclasses.replace(EngineSettings.from_env(), display=None, url_allowlist=(),
                               allow_private_networks=False)
    info = machine(base)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pilothouse-bench-worker-")))
        (workdir / "redis").mkdir()
        redis_server = RedisServer(workdir=workdir / "redis").start()
        stack.callback(redis_server.stop)
        url = stack.enter_context(serve()).url + "/"
        stacks = [measure_stack(slots, args, redis_server, url, base, workdir) for slots in (1, 2)]
    report(info, stacks, args, time.perf_counter() - started)
    return 0


def report(info: dict[str, Any], stacks: list[dict[str, Any]], args: argparse.Namespace,
           total: float) -> None:
    print(f"\nPilothouse worker benchmark — {info['nproc']} cores ({info['cpu']}), {info['os']}, "
          f"{info['chromium']}, Playwright {info['playwright']}, Python {info['python']}, "
          f"load average at start {info['loadavg_at_start']}")
    print()
    print(latency_table(stacks[0]["latency"]))
    print()
    print(throughput_table([s["throughput"] for s in stacks]))
    print()
    print(memory_table(stacks))
    print("\ntargets:")
    for line in verdicts(stacks):
        print("  " + line)
    print(f"\n(total run {total:.0f} s)")
    if args.json:
        print(json.dumps({"machine": info, "args": vars(args), "total_s": round(total, 1), "stacks": stacks,
                          "targets": verdicts(stacks)}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
