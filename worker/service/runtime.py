"""The slot of this Celery pool process: its display, its warm browser and its heartbeat.

Created after the fork (``worker_process_init``), never before: Playwright must live in the
process that uses it. Pool process ``i`` owns display ``DISPLAY + i`` and VNC port ``VNC_PORT + i``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from worker import metrics
from worker.engine import Slot
from worker.settings import EngineSettings, WorkerSettings
from worker.spec import TaskResult, TaskSpec
from worker.spec.channels import run_lock_key, slot_key

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
SLOT_TTL_S = 30
LOCK_TTL_S = 15
DISPLAY_WAIT_S = 20.0


def display_socket(display: str) -> Path:
    """The X server's socket for ``display``."""
    return Path(f"/tmp/.X11-unix/X{display.lstrip(':').split('.')[0]}")


class SlotRuntime:
    """One slot: a warm browser on its display, and a heartbeat in Redis."""

    def __init__(self, settings: WorkerSettings, engine: EngineSettings, index: int,
                 client: redis.Redis, headed: bool = True):
        self.settings, self.index, self.client = settings, index, client
        self.display = settings.display(index)
        self.slot = Slot(dataclasses.replace(engine, display=self.display if headed else None))
        self.task_id: str | None = None
        self.lock_tag = f"{settings.worker_id}:{os.getpid()}"
        self._counted_restarts, self._count_lock = 0, threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat_loop, name="slot-heartbeat", daemon=True)

    def start(self) -> SlotRuntime:
        """Warm the browser (when the display is up) and start the heartbeat."""
        try:
            self.wait_for_display()
            self.slot.start()
        except Exception:
            log.exception("slot %d: could not warm the browser; the first task will try again", self.index)
        self._beat.start()
        self.beat()
        return self

    def wait_for_display(self) -> None:
        """Wait until the slot's X server answers (it may be restarting)."""
        if self.slot.settings.display is None:
            return
        deadline = time.monotonic() + DISPLAY_WAIT_S
        while not display_socket(self.display).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"display {self.display} is not up after {DISPLAY_WAIT_S:g} s")
            time.sleep(0.1)

    def run(self, spec: TaskSpec, task_id: str, cancel: Callable[[], bool],
            on_event: Callable[[dict[str, Any]], None],
            paused: Callable[[], bool] | None = None) -> TaskResult:
        """Run one task on this slot's browser (``paused``: a human has control)."""
        self.task_id = task_id
        self.beat()
        try:
            if not self.slot.healthy():
                self.wait_for_display()
            return self.slot.run(spec, task_id=task_id, cancel=cancel, on_event=on_event, paused=paused)
        finally:
            self.task_id = None
            self.count_restarts()
            self.beat()

    def beat(self) -> None:
        """Publish the slot's state, and keep the running task's lock alive."""
        state = {
            "index": self.index, "display": self.display, "pid": os.getpid(),
            "browser": "up" if self.slot.healthy() else "down", "browser_pid": self.slot.browser_pid or "",
            "browser_restarts": self.slot.restarts, "task_id": self.task_id or "", "updated_at": time.time(),
        }
        try:
            pipe = self.client.pipeline()
            pipe.hset(slot_key(self.settings.worker_id, self.index), mapping=state)
            pipe.expire(slot_key(self.settings.worker_id, self.index), SLOT_TTL_S)
            if self.task_id:  # set, not just refreshed: a Redis that lost it gets it back
                pipe.set(run_lock_key(self.task_id), self.lock_tag, ex=LOCK_TTL_S)
            pipe.execute()
        except redis.RedisError:
            log.warning("slot %d: heartbeat failed (Redis unreachable)", self.index)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._rewarm_if_idle()
            self.beat()

    def _rewarm_if_idle(self) -> None:
        """An idle slot whose browser died (e.g. with its display) relaunches it now, not at
        the next task, so /health recovers and that task starts on a warm browser."""
        headed = self.slot.settings.display is not None
        if self.task_id or self.slot.healthy() or (headed and not display_socket(self.display).exists()):
            return
        try:
            if self.slot.warm_if_idle():
                log.info("slot %d: browser relaunched while idle", self.index)
        except Exception:
            log.warning("slot %d: relaunching the browser failed; will try again", self.index, exc_info=True)
        finally:
            self.count_restarts()

    def count_restarts(self) -> None:
        """Add the browser relaunches not yet counted to the metrics."""
        with self._count_lock:
            metrics.BROWSER_RESTARTS.inc(self.slot.restarts - self._counted_restarts)
            self._counted_restarts = self.slot.restarts

    def close(self) -> None:
        """Stop the heartbeat, forget the slot in Redis and close the browser."""
        self._stop.set()
        try:
            self.client.delete(slot_key(self.settings.worker_id, self.index))
        except redis.RedisError:
            pass
        self.slot.close()
