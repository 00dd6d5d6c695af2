"""Prometheus metrics of the worker.

Counters and histograms are written by the Celery pool processes to
``PROMETHEUS_MULTIPROC_DIR`` (set by the start scripts) and summed by the API's ``/metrics``;
the gauges (busy slots, viewers) are read from Redis at scrape time, where they live anyway.
"""

from __future__ import annotations

import os

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from worker.settings import WorkerSettings
from worker.spec.channels import slot_key, viewers_key, worker_sessions_key

TASK_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

TASKS = Counter("pilothouse_tasks_total", "Finished tasks by outcome.", ["outcome"])
TASK_SECONDS = Histogram("pilothouse_task_duration_seconds", "Task run time.", buckets=TASK_BUCKETS)
STEP_SECONDS = Histogram("pilothouse_step_duration_seconds", "Step run time.", ["action"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
QUEUE_WAIT = Histogram("pilothouse_queue_wait_seconds", "Time from queued to running.", buckets=TASK_BUCKETS)
BROWSER_RESTARTS = Counter("pilothouse_browser_restarts_total", "Browsers relaunched after a crash.")


class LiveGauges:
    """Busy slots and viewers of this worker, read from Redis."""

    def __init__(self, client: redis.Redis, settings: WorkerSettings):
        self.client, self.settings = client, settings

    def collect(self):
        busy = GaugeMetricFamily("pilothouse_slots_busy", "Slots running a task.")
        slots = GaugeMetricFamily("pilothouse_slots", "Slots configured.")
        viewers = GaugeMetricFamily("pilothouse_viewers", "Live-view connections open.")
        try:
            states = [self.client.hget(slot_key(self.settings.worker_id, i), "task_id")
                      for i in range(self.settings.concurrency)]
            tasks = self.client.smembers(worker_sessions_key(self.settings.worker_id))
            watching = sum(int(self.client.get(viewers_key(t)) or 0) for t in tasks)
        except redis.RedisError:
            return
        busy.add_metric([], sum(1 for s in states if s))
        slots.add_metric([], self.settings.concurrency)
        viewers.add_metric([], watching)
        yield from (busy, slots, viewers)


def exposition(client: redis.Redis, settings: WorkerSettings) -> bytes:
    """Every process's counters and histograms plus the live gauges, in Prometheus' format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    registry.register(LiveGauges(client, settings))
    return generate_latest(registry)
