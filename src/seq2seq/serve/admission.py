"""Admission at the HTTP layer: translation requests in the server at once are bounded, so that when request
handling itself (parsing, validation, JSON) is the bottleneck rather than the model, the excess gets a cheap 503
before its body is read instead of a place in an ever longer line; so does a request while the batcher's queue is
full, since it would be refused after parsing anyway."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from typing import Any

from .batcher import QUEUE_SECONDS, Batcher

WINDOW = 5.0  # seconds of answers the throughput is measured over
PEAK_HALF_LIFE = 30.0  # seconds: the best recent rate counts, forgotten this slowly


class InFlight:
    """Translation requests in the server now, and the bound on them: `fixed`, or (fixed None) as many as the
    server answers in `seconds` at its best recent rate, at least `floor`.

    The best recent rate (the highest WINDOW-second rate, decaying with a PEAK_HALF_LIFE half-life), not the
    current one: the current rate is the load, not the capacity, and a bound that followed it would refuse the
    first seconds of every rise in load."""

    def __init__(self, fixed: int | None, floor: int, seconds: float = QUEUE_SECONDS):
        self.fixed = fixed
        self.seconds = seconds
        self.floor = max(1, floor)
        self.count = 0
        self._answered: deque[float] = deque()
        self._since: float | None = None  # the first answer
        self._peak, self._peak_at = 0.0, 0.0

    def rate(self) -> float:
        """Requests answered per second over the last WINDOW seconds (or since the first answer, if later)."""
        now = time.monotonic()
        while self._answered and self._answered[0] < now - WINDOW:
            self._answered.popleft()
        if self._since is None:
            return 0.0
        return len(self._answered) / max(1.0, min(WINDOW, now - self._since))

    def peak(self) -> float:
        """The best recent rate: the highest rate seen, halved every PEAK_HALF_LIFE seconds since."""
        now, rate = time.monotonic(), self.rate()
        decayed = self._peak * 0.5 ** ((now - self._peak_at) / PEAK_HALF_LIFE)
        if rate >= decayed:
            self._peak, self._peak_at = rate, now
            return rate
        return decayed

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        if self.fixed is not None:
            return self.fixed
        return max(self.floor, int(self.peak() * self.seconds))

    def retry_after(self) -> int:
        """Whole seconds the requests in flight need at the best recent rate (at least 1)."""
        rate = self.peak()
        return max(1, math.ceil(self.count / rate)) if rate > 0 else 1

    def answered(self) -> None:
        """Count one request answered."""
        self.count -= 1
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self._answered.append(now)


class InFlightLimit:
    """ASGI middleware for POST /v1/translate: 503 with Retry-After, before the body is read, while `state`'s
    bound is reached or `queue` (the batcher) is full. The connection stays open (uvicorn skips the unread body):
    a refusal that costs a new connection each time would cost an overloaded server more than the refused
    request."""

    def __init__(self, app: Any, state: InFlight, path: str = "/v1/translate", queue: Batcher | None = None):
        self.app = app
        self.state = state
        self.path = path
        self.queue = queue

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        state, limit, queue = self.state, self.state.limit, self.queue
        if state.count >= limit:
            await _refuse(send, f"server overloaded: {state.count} requests in flight, the limit now is {limit}; "
                                "retry later", state.retry_after())
            return
        if queue is not None and queue.full():
            await _refuse(send, f"server overloaded: {queue.queued_inputs} inputs queued, the queue is full "
                                f"(--max-queue {queue.max_queue} now); retry later", queue.retry_after())
            return
        state.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            state.answered()


async def _refuse(send: Any, message: str, retry_after: int) -> None:
    payload = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry_after).encode()),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
