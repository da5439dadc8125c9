"""Request micro-batching: one inference thread, concurrent requests merged into one `Model.translate` call, in
front of it a queue bounded in inputs that refuses work at once when full and lets go of work nobody waits for."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..config import DecodeConfig

log = logging.getLogger("seq2seq")
_ALONE = itertools.count()
QUEUE_SECONDS = 0.25  # the automatic queue bound (--max-queue-ms): this much work at the measured rate


class Overloaded(Exception):
    """The queue has no room for a request's inputs: answer 503 with `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ShuttingDown(Exception):
    """The server is draining: no new work, and queued work left at the drain deadline is dropped."""


@dataclass
class _Job:
    inputs: list[str]
    options: DecodeConfig
    attention: bool
    future: asyncio.Future
    # Requests share a call only with equal options. Sampled outputs depend on which sentences share the
    # random stream, so sampling requests never share one.
    key: Any = field(init=False)
    alone: bool = field(init=False)

    def __post_init__(self) -> None:
        self.alone = self.options.strategy == "sample"
        # A shallow tuple of the options' values: astuple's deep copy cost each request tens of microseconds.
        self.key = ("alone", next(_ALONE)) if self.alone else (tuple(vars(self.options).values()), self.attention)


class Batcher:
    """Collects requests arriving within `wait_ms` of the first (up to `max_batch` inputs in all, same
    decoding options) and translates them in one call on a single worker thread; when requests queued up during
    the last call, the next call takes what is queued without waiting.

    `max_batch=1` turns merging off: every request then runs on its own (still off the event loop).
    A request with more inputs than `max_batch` always runs whole. At most `max_queue` inputs wait (None: as
    many as `queue_seconds` of work at the measured rate, at least `floor`); a request that does not fit is
    refused with `Overloaded` unless the queue is empty. A request whose caller stops waiting (deadline,
    disconnect: its task is cancelled) leaves the queue at once. `on_batch(inputs, seconds)` is told of every
    model call.
    """

    def __init__(self, model: Any, max_batch: int = 64, wait_ms: float = 5.0, max_queue: int | None = None,
                 floor: int = 64, on_batch: Callable[[int, float], None] | None = None,
                 queue_seconds: float = QUEUE_SECONDS):
        self.model = model
        self.max_batch = max(1, max_batch)
        self.wait = max(0.0, wait_ms) / 1000.0
        self.fixed_queue = max_queue
        self.queue_seconds = queue_seconds
        self.floor = max(1, floor, self.max_batch)
        self.on_batch = on_batch
        self.calls = 0
        self.requests = 0
        self.rate = 0.0  # inputs per second of model time, a moving average over the calls made
        self.queued_inputs = 0
        self._running: list[_Job] = []
        self._pending: deque[_Job] = deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._draining = False

    async def start(self) -> None:
        """Start the collecting task and the inference thread (inside the running event loop)."""
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seq2seq-infer")
        self._task = asyncio.create_task(self._loop(), name="seq2seq-batcher")

    async def stop(self) -> None:
        """Stop collecting; waiting requests get `ShuttingDown`; a call already running ends on its own."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._fail_queued(ShuttingDown("server shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def drain(self, seconds: float) -> None:
        """Refuse new work from now on; run what is queued for up to `seconds`, then drop what is left (the
        waiting requests get `ShuttingDown`), and return once nothing is queued or running."""
        self._draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, seconds)
        while (self._pending or self.running_inputs) and loop.time() < deadline:
            await asyncio.sleep(min(0.02, max(0.0, deadline - loop.time())))
        late = ShuttingDown("server shutting down: the request was not done by the drain deadline")
        self._fail_queued(late)
        for job in self._running:  # a call past the deadline still ends, but nobody waits for it
            if not job.future.done():
                job.future.set_exception(late)

    @property
    def draining(self) -> bool:
        """Whether `drain` has begun."""
        return self._draining

    @property
    def running_inputs(self) -> int:
        """Inputs of the model call now running."""
        return sum(len(job.inputs) for job in self._running)

    @property
    def waiting(self) -> int:
        """Requests queued and not yet running."""
        return len(self._pending)

    @property
    def max_queue(self) -> int:
        """The bound on queued inputs now: the fixed one, or `queue_seconds` of work at the measured rate."""
        if self.fixed_queue is not None:
            return self.fixed_queue
        return max(self.floor, int(self.rate * self.queue_seconds))

    def full(self) -> bool:
        """Whether a request of even one input would be refused now (checked before its body is read)."""
        return bool(self._pending) and self.queued_inputs >= self.max_queue

    def retry_after(self) -> int:
        """Whole seconds the queue needs to empty at the measured rate (at least 1)."""
        if self.rate <= 0:
            return 1
        return max(1, math.ceil((self.queued_inputs + self.running_inputs) / self.rate))

    async def translate(self, inputs: list[str], options: DecodeConfig, attention: bool = False) -> list[list[Any]]:
        """Translations of `inputs` (per input, nbest best first; with attention weights if asked for), computed
        with other requests' inputs; `Overloaded` when the queue is full, `ShuttingDown` while draining."""
        if self._arrived is None or self._task is None:
            raise RuntimeError("batcher not started")
        if self._task.done():
            raise RuntimeError("batcher stopped")
        if self._draining:
            raise ShuttingDown("server shutting down: not accepting new requests")
        n, bound = len(inputs), self.max_queue
        if self._pending and self.queued_inputs + n > bound:
            raise Overloaded(f"server overloaded: {self.queued_inputs} inputs queued, {n} more would exceed "
                             f"--max-queue {bound}; retry later", self.retry_after())
        job = _Job(list(inputs), options, attention, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self.queued_inputs += n
        self._arrived.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._withdraw(job)  # the caller stopped waiting: its queued work goes with it
            raise

    def _withdraw(self, job: _Job) -> None:
        try:
            self._pending.remove(job)
        except ValueError:
            return  # already taken into a batch
        self.queued_inputs -= len(job.inputs)

    def _take(self, job: _Job) -> None:
        self._pending.remove(job)
        self.queued_inputs -= len(job.inputs)

    def _fail_queued(self, error: Exception) -> None:
        leftovers = list(self._pending)
        self._pending.clear()
        self.queued_inputs = 0
        for job in leftovers:
            if not job.future.done():
                job.future.set_exception(error)

    async def _wait_for_arrival(self, timeout: float | None) -> bool:
        assert self._arrived is not None
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def _next_batch(self) -> list[_Job]:
        # Requests that arrived during the last call mean the model is the bottleneck: waiting `wait_ms` for
        # more would leave it idle while they wait, so only a call that starts an idle model waits for company.
        behind = bool(self._pending)
        while not self._pending:
            await self._wait_for_arrival(None)
        first = self._pending[0]
        self._take(first)
        batch, size = [first], len(first.inputs)
        if self.max_batch == 1 or first.alone:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0.0 if behind else self.wait)
        seen = 0  # jobs of the queue already looked at (kept: other options, or too large for this batch)
        while size < self.max_batch:
            fitting = None
            for job in itertools.islice(self._pending, seen, None):
                seen += 1
                if job.key == first.key and size + len(job.inputs) <= self.max_batch:
                    fitting = job
                    break
            if fitting is not None:
                self._take(fitting)
                seen -= 1
                batch.append(fitting)
                size += len(fitting.inputs)
                continue
            timeout = deadline - loop.time()
            if timeout <= 0 or not await self._wait_for_arrival(timeout):
                break
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            batch = [job for job in batch if not job.future.done()]  # the client went away
            if not batch:
                continue
            self._running = batch
            try:
                results = await loop.run_in_executor(self._executor, self._run, batch)
            except asyncio.CancelledError:
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(ShuttingDown("server shutting down"))
                raise
            finally:
                self._running = []
            for job, result in zip(batch, results):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _run(self, batch: list[_Job]) -> list[Any]:
        """On the inference thread: one call for the whole batch; if it fails, each request alone, so that
        one bad request cannot fail the others."""
        self.calls += 1
        self.requests += len(batch)
        inputs = [text for job in batch for text in job.inputs]
        start = time.perf_counter()
        try:
            out = self.model.translate(inputs, batch[0].options, attention=batch[0].attention)
        except Exception as e:  # noqa: BLE001 - reported to the request(s), never to the server
            if len(batch) == 1:
                return [e]
            log.warning("batched translation failed (%s); retrying %d requests one by one", e, len(batch))
            results: list[Any] = []
            for job in batch:
                try:
                    results.append(self.model.translate(job.inputs, job.options, attention=job.attention))
                except Exception as one:  # noqa: BLE001
                    results.append(one)
            return results
        self._measured(len(inputs), time.perf_counter() - start)
        results, start_at = [], 0
        for job in batch:
            results.append(out[start_at:start_at + len(job.inputs)])
            start_at += len(job.inputs)
        return results

    def _measured(self, inputs: int, seconds: float) -> None:
        if inputs and seconds > 0:
            rate = inputs / seconds
            self.rate = rate if self.rate == 0 else 0.8 * self.rate + 0.2 * rate
        if self.on_batch is not None:
            self.on_batch(inputs, seconds)
