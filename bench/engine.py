"""Per-task latency and CPU of the engine, against the Playwright floor and a naive baseline.

    .venv/bin/python bench/engine.py                    # headless, 30 tasks, both regimes
    .venv/bin/python bench/engine.py --tasks 60 --regime spaced --json
    .venv/bin/python bench/engine.py --headed           # each browser on an Xvfb started here

Every variant does the same work on the bundled demo site (go to ``/``, read the ``<h1>``,
screenshot the 1280x720 viewport), with the same Chromium executable and flags
(``worker.engine.browser.launch_args``). Each variant has its own browser and Playwright
driver, all open for the whole run, and only one of them is ever busy:

  raw      Playwright on one page opened before the measurements: the floor (no isolation)
  naive    a new browser context + page per task, closed at the end of the task
  engine   ``Slot.run()`` on a warm slot, URL policy open (``allow_private_networks``)
  proxy    ``Slot.run()`` with the URL-policy proxy in the path (``url_allowlist=127.0.0.1``)

and, only with ``--variants``, naive-stock: naive without BASE_ARGS' ``--disable-features``
(what a context per task costs with Chromium's default features).

Regimes: ``spaced`` runs the variants round-robin (one task each per round, the order rotating)
with ``--gap-ms`` of sleep before every task (not counted), so the slot prepares its next
context while idle and slow drift of the machine hits every variant alike; ``back-to-back``
runs each variant's tasks with no gap, one variant after the other, and adds throughput.

CPU is user + system time of the whole process tree: this process, the Playwright drivers and
every Chromium process (and the Xvfb servers with ``--headed``). A process that exits is still
counted: its times move to its parent's "children" times when the parent reaps it (the zygote
reaps renderers), and those are summed too. The cost of sampling is measured and subtracted,
and so is the tree's idle rate (the other, idle browsers) in "CPU all". "CPU in task" is the
tree's CPU from the start to the end of a task; "CPU all" also counts what the task left
running after it (spaced: until the next task starts; back-to-back: the whole series plus a
short tail), i.e. the slot closing the used context and preparing the next one. "other load"
is the CPU the rest of the machine used meanwhile, in cores: above 0.25 the figures are
disturbed (the table says so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # also runnable as a plain script (``make bench``)
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from worker.demo_site import serve  # noqa: E402
from worker.engine import LocalArtifactStore, Slot  # noqa: E402
from worker.engine import browser as chromium  # noqa: E402
from worker.settings import EngineSettings  # noqa: E402

VARIANTS = ("raw", "naive", "engine", "proxy")
OPTIONAL = ("naive-stock",)  # only when asked for with --variants
LABELS = {
    "raw": "raw floor (open page)",
    "naive": "naive (context per task)",
    "naive-stock": "naive, stock features",
    "engine": "engine (Slot.run)",
    "proxy": "engine + policy proxy",
}
REGIMES = ("spaced", "back-to-back")
WINDOW = (1280, 720)
HEADING = "Pilothouse demo shop"
SETTLE_S = 1.0  # after warm-up, before measuring
IDLE_S = 1.0  # idle CPU of the tree is measured over this long
NOISY_LOAD = 0.25  # cores used by other processes during a phase before the table warns
TAIL_S = 0.5  # after the last back-to-back task, for the slot's background recycle


# -- CPU of the process tree ---------------------------------------------------------------------

def _kind(proc: psutil.Process) -> str:
    if proc.pid == os.getpid():
        return "python"
    cmd = proc.cmdline()
    for arg in cmd:
        if arg.startswith("--utility-sub-type="):
            return "utility:" + arg.split("=", 1)[1].rsplit(".", 1)[-1]
    for arg in cmd:
        if arg.startswith("--type="):
            return arg.split("=", 1)[1]
    name = os.path.basename(cmd[0]) if cmd else proc.name()
    if "node" in name:
        return "driver"
    if "chrom" in name:
        return "browser"
    return name


def _system_busy() -> float:
    """CPU-seconds the whole machine has been busy (not idle, waiting for I/O or stolen)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - sum(getattr(t, f, 0.0) for f in ("iowait", "steal", "guest", "guest_nice"))


@dataclasses.dataclass
class Snap:
    """One look at the tree: when, its CPU-seconds (total and per process kind), the machine's
    busy CPU-seconds, and what looking cost this thread (it lands in the *next* interval: this
    process is read first)."""

    t: float
    cpu: float
    kinds: dict[str, float]
    busy: float
    cost: float


class TreeCpu:
    """CPU-seconds used by this process and all its descendants, living or reaped."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self._kinds: dict[tuple[int, float], str] = {}

    def snap(self) -> Snap:
        t0, busy = time.thread_time(), _system_busy()
        now = time.perf_counter()
        kinds: dict[str, float] = {}
        total = 0.0
        procs, first = [self.me], True
        while procs:
            proc = procs.pop()
            with contextlib.suppress(psutil.Error), proc.oneshot():
                c = proc.cpu_times()
                own, reaped = c.user + c.system, c.children_user + c.children_system
                key = (proc.pid, proc.create_time())
                kind = self._kinds.get(key) or self._kinds.setdefault(key, _kind(proc))
                kinds[kind] = kinds.get(kind, 0.0) + own
                if reaped:  # the zygote reaps renderers; other parents rarely have dead children
                    gone = "renderer" if kind == "zygote" else f"exited children of {kind}"
                    kinds[gone] = kinds.get(gone, 0.0) + reaped
                total += own + reaped
            if first:
                first = False
                with contextlib.suppress(psutil.Error):
                    procs = self.me.children(recursive=True)
        return Snap(now, total, kinds, busy, time.thread_time() - t0)

    def chromium_pids(self) -> list[int]:
        out = []
        with contextlib.suppress(psutil.Error):
            for proc in self.me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "chrom" in proc.name():
                        out.append(proc.pid)
        return out


def idle_rate(tree: TreeCpu, seconds: float) -> float:
    """CPU-seconds per second the tree uses while nothing runs (every browser open, idle)."""
    a = tree.snap()
    time.sleep(seconds)
    b = tree.snap()
    return max(0.0, b.cpu - a.cpu - a.cost) / (b.t - a.t)


# -- measurements --------------------------------------------------------------------------------

@dataclasses.dataclass
class Stats:
    """What one variant did in one regime."""

    variant: str
    regime: str
    gap_s: float
    idle_rate: float
    walls: list[float] = dataclasses.field(default_factory=list)
    cpu_in: list[float] = dataclasses.field(default_factory=list)
    extras: list[dict[str, float]] = dataclasses.field(default_factory=list)
    cpu_all: float = 0.0  # tasks and the background work after them (the gaps, the tail)
    kinds: dict[str, float] = dataclasses.field(default_factory=dict)
    span_s: float = 0.0  # time covered by cpu_all
    other_cpu: float = 0.0  # CPU-seconds of everything outside the tree during span_s
    elapsed_s: float = 0.0  # back-to-back: first task start -> last task end

    def task(self, a: Snap, b: Snap, wall: float, extra: dict[str, float]) -> None:
        self.walls.append(wall)
        self.cpu_in.append(max(0.0, b.cpu - a.cpu - a.cost))
        self.extras.append(extra)

    def background(self, a: Snap, b: Snap, costs: float) -> None:
        """Account the interval a -> b (tasks plus what they left running); ``costs`` are the
        sampling costs inside it. The tree's idle rate is taken off: other browsers idling."""
        span = b.t - a.t
        self.cpu_all += b.cpu - a.cpu - costs - self.idle_rate * span
        for k in set(a.kinds) | set(b.kinds):
            self.kinds[k] = self.kinds.get(k, 0.0) + b.kinds.get(k, 0.0) - a.kinds.get(k, 0.0)
        self.kinds["python"] = self.kinds.get("python", 0.0) - costs
        self.span_s += span
        self.other_cpu += (b.busy - a.busy) - (b.cpu - a.cpu)

    @property
    def n(self) -> int:
        return len(self.walls)

    def median_ms(self) -> float:
        return statistics.median(self.walls) * 1000

    def summary(self, floor_ms: float | None) -> dict[str, Any]:
        walls = sorted(w * 1000 for w in self.walls)
        out = {
            "variant": self.variant, "regime": self.regime, "tasks": self.n,
            "gap_ms": round(self.gap_s * 1000),
            "wall_ms": {"median": round(statistics.median(walls), 1), "min": round(walls[0], 1),
                        "p90": round(walls[int(0.9 * (len(walls) - 1))], 1), "max": round(walls[-1], 1),
                        "mean": round(statistics.fmean(walls), 1)},
            "x_raw": round(self.median_ms() / floor_ms, 2) if floor_ms else None,
            "cpu_in_task_s": {"median": round(statistics.median(self.cpu_in), 3),
                              "mean": round(statistics.fmean(self.cpu_in), 3)},
            "cpu_all_per_task_s": round(self.cpu_all / self.n, 3),
            "idle_tree_cpu_per_s": round(self.idle_rate, 4),
            "other_load_cores": round(max(0.0, self.other_cpu) / self.span_s, 2),
            "cpu_per_task_by_process": {k: round(v / self.n, 4) for k, v in
                                        sorted(self.kinds.items(), key=lambda kv: -kv[1])
                                        if v / self.n >= 0.0005},
            "parts_ms": _parts(self.extras),
        }
        if self.regime == "back-to-back":
            out["tasks_per_s"] = round(self.n / self.elapsed_s, 2)
        return out


def _parts(extras: list[dict[str, float]]) -> dict[str, float]:
    """Median of each sub-timing the variant reported."""
    keys = {k for e in extras for k in e}
    return {k: round(statistics.median(e[k] for e in extras if k in e), 1) for k in sorted(keys)}


Task = Callable[[], dict[str, float]]


def run_spaced(tasks: dict[str, Task], n: int, gap_s: float, tree: TreeCpu) -> dict[str, Stats]:
    """Round-robin: one task of each variant per round (the order rotates), ``gap_s`` of sleep
    before every task. A task's "CPU all" runs from its start to the next task's start, so it
    includes what it left running in the gap (the slot's recycle)."""
    idle = idle_rate(tree, IDLE_S)
    stats = {v: Stats(v, "spaced", gap_s, idle) for v in tasks}
    names = list(tasks)
    prev: tuple[str, Snap, float] | None = None  # variant, its start, sampling costs since
    for i in range(n):
        for variant in names[i % len(names):] + names[:i % len(names)]:
            time.sleep(gap_s)
            a = tree.snap()
            if prev:
                stats[prev[0]].background(prev[1], a, prev[2])
            t0 = time.perf_counter()
            extra = tasks[variant]()
            wall = time.perf_counter() - t0
            b = tree.snap()
            stats[variant].task(a, b, wall, extra)
            prev = (variant, a, a.cost + b.cost)
    time.sleep(gap_s)
    end = tree.snap()
    stats[prev[0]].background(prev[1], end, prev[2])
    return stats


def run_back_to_back(variant: str, task: Task, n: int, tree: TreeCpu) -> Stats:
    """``n`` tasks with no pause (one look at the tree between two tasks), then a short tail for
    the background work the last one left."""
    stats = Stats(variant, "back-to-back", 0.0, idle_rate(tree, IDLE_S))
    first = a = tree.snap()
    costs = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        extra = task()
        wall = time.perf_counter() - t0
        b = tree.snap()
        stats.task(a, b, wall, extra)
        costs += a.cost
        a = b
    stats.elapsed_s = a.t - first.t
    time.sleep(TAIL_S)
    end = tree.snap()
    stats.background(first, end, costs + a.cost)
    return stats


# -- the variants --------------------------------------------------------------------------------

def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


@contextlib.contextmanager
def playwright_variant(variant: str, settings: EngineSettings, url: str) -> Iterator[Callable[[], dict]]:
    """raw or naive: plain Playwright in this process, its own driver and browser."""
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    pw = run(async_playwright().start())
    env = dict(os.environ)
    if settings.display:
        env["DISPLAY"] = settings.display
    args = chromium.launch_args(settings, WINDOW)
    if variant == "naive-stock":
        args = [a for a in args if not a.startswith("--disable-features=")]
    browser = run(pw.chromium.launch(executable_path=settings.browser_executable,
                                     headless=not settings.display, env=env, args=args))
    viewport = {"width": WINDOW[0], "height": WINDOW[1]}

    async def work(page: Any, parts: dict[str, float]) -> None:
        t = time.perf_counter()
        await page.goto(url)
        parts["goto"] = _ms(t)
        t = time.perf_counter()
        text = (await page.locator("h1").first.inner_text()).strip()
        parts["extract"] = _ms(t)
        t = time.perf_counter()
        png = await page.screenshot()
        parts["screenshot"] = _ms(t)
        if text != HEADING or not png:
            raise RuntimeError(f"unexpected page: {text!r}")

    if variant == "raw":
        context = run(browser.new_context(viewport=viewport))
        page = run(context.new_page())

        async def task() -> dict[str, float]:
            parts: dict[str, float] = {}
            await work(page, parts)
            return parts
    else:
        async def task() -> dict[str, float]:
            parts: dict[str, float] = {}
            t = time.perf_counter()
            context = await browser.new_context(viewport=viewport)
            page = await context.new_page()
            parts["new_context_page"] = _ms(t)
            await work(page, parts)
            t = time.perf_counter()
            await context.close()
            parts["close"] = _ms(t)
            return parts

    try:
        yield lambda: run(task())
    finally:
        run(browser.close())
        run(pw.stop())
        loop.close()


@contextlib.contextmanager
def engine_variant(variant: str, settings: EngineSettings, url: str,
                   artifacts: Path) -> Iterator[Callable[[], dict]]:
    """engine or proxy: a warm Slot, driven from this thread like the worker does."""
    if variant == "engine":
        settings = dataclasses.replace(settings, allow_private_networks=True, url_allowlist=())
    else:
        settings = dataclasses.replace(settings, allow_private_networks=False, url_allowlist=("127.0.0.1",))
    spec = {
        "version": 1, "start_url": url, "timeout_s": 60,
        "steps": [{"action": "extract", "name": "heading", "selector": "h1"},
                  {"action": "screenshot", "name": "page"}],
    }
    slot = Slot(settings, store=LocalArtifactStore(artifacts / variant), window=WINDOW).start()

    def task() -> dict[str, float]:
        t = time.perf_counter()
        result = slot.run(spec)
        wall = _ms(t)
        if result.status != "succeeded" or result.extracted.get("heading") != HEADING:
            raise RuntimeError(f"{variant} task {result.status}: {result.error} {result.extracted}")
        steps = {("goto" if s.index is None else s.action): s.duration_ms for s in result.steps}
        return {**steps, "runner": result.duration_ms,
                "runner_minus_steps": result.duration_ms - sum(steps.values()),
                "outside_runner": wall - result.duration_ms}

    try:
        yield task
    finally:
        slot.close()


# -- headed: our own Xvfb ------------------------------------------------------------------------

@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    if not shutil.which("Xvfb") or not shutil.which("xdpyinfo"):
        raise SystemExit("--headed needs Xvfb and xdpyinfo (Debian: xvfb, x11-utils)")
    number = next(n for n in range(170, 400) if not Path(f"/tmp/.X{n}-lock").exists()
                  and not Path(f"/tmp/.X11-unix/X{n}").exists())
    display = f":{number}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{WINDOW[0]}x{WINDOW[1]}x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["xdpyinfo"], env={**os.environ, "DISPLAY": display},
                             capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"Xvfb {display} did not start")
            time.sleep(0.05)
        yield display
    finally:
        proc.terminate()
        proc.wait(10)


# -- reporting -----------------------------------------------------------------------------------

def machine(settings: EngineSettings) -> dict[str, Any]:
    version = subprocess.run([settings.browser_executable, "--version"], capture_output=True,
                             text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(), "cpu": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": _os_name(), "kernel": platform.release(), "python": platform.python_version(),
        "playwright": importlib.metadata.version("playwright"), "chromium": version,
        "browser_executable": settings.browser_executable,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.platform()


def table(regime: str, rows: list[dict[str, Any]], gap_ms: int, mode: str) -> str:
    b2b = regime == "back-to-back"
    head = (f"{'variant':<26} {'median ms':>9} {'min–max ms':>15} {'p90 ms':>7} {'× raw':>6} "
            f"{'CPU-s in task':>13} {'CPU-s all':>9}" + (f" {'tasks/s':>7}" if b2b else "")
            + f" {'other load':>10}")
    what = "no gap between tasks" if b2b else f"variants interleaved, {gap_ms} ms idle before each task"
    lines = [f"{regime} — {rows[0]['tasks']} tasks per variant, {what}, {mode}", head, "-" * len(head)]
    noisy = [r for r in rows if r["other_load_cores"] > NOISY_LOAD]
    for r in rows:
        w = r["wall_ms"]
        ratio = f"{r['x_raw']:.2f}" if r["x_raw"] is not None else "–"
        lines.append(
            f"{LABELS[r['variant']]:<26} {w['median']:>9.1f} {w['min']:>7.1f}–{w['max']:>7.1f} "
            f"{w['p90']:>7.1f} "
            f"{ratio:>6} {r['cpu_in_task_s']['median']:>13.3f} {r['cpu_all_per_task_s']:>9.3f}"
            + (f" {r['tasks_per_s']:>7.2f}" if b2b else "") + f" {r['other_load_cores']:>10.2f}")
    if noisy:
        lines.append(f"warning: other processes kept > {NOISY_LOAD} core busy during "
                     + ", ".join(r["variant"] for r in noisy) + ": those figures are disturbed")
    return "\n".join(lines)


def verdicts(summaries: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The issue's targets: spaced, engine median <= 1.2 x raw floor; back to back, CPU-s per
    task below the naive context-per-task figure (with the same flags it is the same work, so
    the engine can only match it; naive-stock is naive with Chromium's default features)."""
    out = []
    raw = summaries.get(("raw", "spaced"))
    for variant in ("engine", "proxy"):
        row = summaries.get((variant, "spaced"))
        if raw and row:
            limit = 1.2 * raw["wall_ms"]["median"]
            ok = row["wall_ms"]["median"] <= limit
            out.append(f"spaced, {LABELS[variant]}: median {row['wall_ms']['median']:.1f} ms vs "
                       f"1.2 × raw = {limit:.1f} ms -> {'MET' if ok else 'MISSED'}")
    for baseline in ("naive", "naive-stock"):
        naive = summaries.get((baseline, "back-to-back"))
        for variant in ("engine", "proxy"):
            row = summaries.get((variant, "back-to-back"))
            if naive and row:
                ok = row["cpu_all_per_task_s"] < naive["cpu_all_per_task_s"]
                out.append(f"back-to-back, {LABELS[variant]}: {row['cpu_all_per_task_s']:.3f} CPU-s/task vs "
                           f"{LABELS[baseline]} {naive['cpu_all_per_task_s']:.3f} -> "
                           + ("MET" if ok else "MISSED"))
    return out


# -- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/engine.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=30, help="measured tasks per variant and regime "
                        "(default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured tasks per variant first "
                        "(default: %(default)s)")
    parser.add_argument("--regime", choices=("spaced", "back-to-back", "both"), default="both")
    parser.add_argument("--gap-ms", type=int, default=300, help="idle time before each spaced task "
                        "(default: %(default)s)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated, from %(default)s and naive-stock")
    parser.add_argument("--headed", action="store_true", help="headed Chromium, each browser on its own "
                        "Xvfb started here")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    variants = list(dict.fromkeys(v.strip() for v in args.variants.split(",") if v.strip()))
    if bad := [v for v in variants if v not in VARIANTS + OPTIONAL]:
        parser.error(f"unknown variant(s) {bad}; choose from {VARIANTS + OPTIONAL}")
    if not variants or args.tasks < 1 or args.warmup < 0 or args.gap_ms < 0:
        parser.error("need a variant, --tasks >= 1, --warmup >= 0 and --gap-ms >= 0")
    regimes = REGIMES if args.regime == "both" else (args.regime,)

    base = dataclasses.replace(EngineSettings.from_env(), display=None, url_allowlist=(),
                               allow_private_networks=False)
    tree = TreeCpu()
    if tree.chromium_pids():
        raise SystemExit("Chromium is already running under this process")
    info = machine(base)
    mode = "headed, one Xvfb per browser" if args.headed else "headless"
    results: list[Stats] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        site = stack.enter_context(serve())
        url = site.url + "/"
        artifacts = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pilothouse-bench-")))
        tasks: dict[str, Task] = {}
        for variant in variants:  # every browser stays open; only one is ever busy
            settings = dataclasses.replace(base, display=stack.enter_context(xvfb())) if args.headed else base
            if variant in ("raw", "naive", "naive-stock"):
                tasks[variant] = stack.enter_context(playwright_variant(variant, settings, url))
            else:
                tasks[variant] = stack.enter_context(engine_variant(variant, settings, url, artifacts))
            for _ in range(args.warmup):
                tasks[variant]()
        time.sleep(SETTLE_S)
        if "spaced" in regimes:
            spaced = run_spaced(tasks, args.tasks, args.gap_ms / 1000, tree)
            results += spaced.values()
            _progress(spaced.values())
        if "back-to-back" in regimes:
            for variant, task in tasks.items():
                time.sleep(SETTLE_S)
                results.append(run_back_to_back(variant, task, args.tasks, tree))
                _progress(results[-1:])
    floor = {s.regime: s.median_ms() for s in results if s.variant == "raw"}
    summaries = {(s.variant, s.regime): s.summary(floor.get(s.regime)) for s in results}

    print(f"\nPilothouse engine benchmark — {info['nproc']} cores ({info['cpu']}), {info['os']}, "
          f"{info['chromium']}, Playwright {info['playwright']}, Python {info['python']}")
    for regime in regimes:
        print()
        print(table(regime, [summaries[(v, regime)] for v in variants], args.gap_ms, mode))
    print("\nwhere the time goes (median ms of each part):")
    for (variant, regime), s in summaries.items():
        parts = "  ".join(f"{k} {v:.1f}" for k, v in s["parts_ms"].items())
        print(f"  {variant:<11} {regime:<13} {parts}")
    print("\nCPU-s per task by process (CPU all):")
    for (variant, regime), s in summaries.items():
        parts = "  ".join(f"{k} {v:.3f}" for k, v in s["cpu_per_task_by_process"].items())
        print(f"  {variant:<11} {regime:<13} {parts}")
    if checks := verdicts(summaries):
        print("\ntargets:")
        for line in checks:
            print("  " + line)
    total = time.perf_counter() - started
    print(f"\n(total run {total:.0f} s)")
    if args.json:
        print(json.dumps({"machine": info, "mode": mode, "args": vars(args), "total_s": round(total, 1),
                          "results": list(summaries.values()), "targets": verdicts(summaries)}, indent=2))
    return 0


def _progress(stats: Any) -> None:
    for s in stats:
        print(f"  {s.variant:<11} {s.regime:<13} median {s.median_ms():7.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
