"""The server's Prometheus metrics (GET /metrics): one registry per app, so that several apps in one process
(tests, an embedding program) keep separate counts."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ROUTES = ("/v1/translate", "/v1/model", "/health", "/metrics", "/")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RATE_WINDOW = 10.0  # seconds over which seq2seq_inputs_per_second counts


def _batch_buckets(max_batch: int) -> tuple[float, ...]:
    sizes, size = [], 1
    while size < max_batch:
        sizes.append(float(size))
        size *= 2
    return tuple(sizes) + (float(max_batch),)


class ServerMetrics:
    """Requests by route and status, queue depth and bound, batch sizes, translate latency, inputs per second."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, batcher: Any, max_batch: int, in_flight: Any):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("seq2seq_requests", "HTTP requests answered, by route and status code",
                                ["route", "status"], registry=r)
        self.latency = Histogram("seq2seq_translate_seconds", "time to answer a POST /v1/translate with 200",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_inputs = Histogram("seq2seq_batch_inputs", "inputs per model call",
                                      buckets=_batch_buckets(max_batch), registry=r)
        self.batch_seconds = Histogram("seq2seq_batch_seconds", "time of one model call",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.inputs = Counter("seq2seq_inputs", "inputs translated", registry=r)
        gauges = (("seq2seq_queue_inputs", "inputs queued, not yet running", lambda: batcher.queued_inputs),
                  ("seq2seq_queue_requests", "requests queued, not yet running", lambda: batcher.waiting),
                  ("seq2seq_queue_limit_inputs", "the queue's bound in inputs now (--max-queue)",
                   lambda: batcher.max_queue),
                  ("seq2seq_running_inputs", "inputs of the model call now running", lambda: batcher.running_inputs),
                  ("seq2seq_in_flight_requests", "POST /v1/translate requests in the server now",
                   lambda: in_flight.count),
                  ("seq2seq_in_flight_limit", "the bound on them now (503 at it)", lambda: in_flight.limit),
                  ("seq2seq_inputs_per_second", f"inputs translated per second over the last {RATE_WINDOW:g} s",
                   self._recent_rate))
        for name, documentation, read in gauges:  # each read when /metrics is scraped
            Gauge(name, documentation, registry=r).set_function(read)
        self._recent: list[tuple[float, int]] = []

    def batch(self, inputs: int, seconds: float) -> None:
        """Count one model call (called on the inference thread)."""
        self.batch_inputs.observe(inputs)
        self.batch_seconds.observe(seconds)
        self.inputs.inc(inputs)
        now = time.monotonic()
        self._recent.append((now, inputs))
        while self._recent and self._recent[0][0] < now - RATE_WINDOW:
            self._recent.pop(0)

    def _recent_rate(self) -> float:
        cutoff = time.monotonic() - RATE_WINDOW
        return sum(n for t, n in list(self._recent) if t >= cutoff) / RATE_WINDOW

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class CountRequests:
    """ASGI middleware: counts every HTTP answer by route (one of ROUTES, else `other`) and status code."""

    def __init__(self, app: Any, metrics: ServerMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        counted = False

        async def counting_send(message: dict) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                self.metrics.requests.labels(route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)
