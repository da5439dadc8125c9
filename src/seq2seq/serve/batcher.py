"""Request micro-batching: one inference thread, concurrent requests merged into one `Model.translate` call."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..config import DecodeConfig

log = logging.getLogger("seq2seq")
_ALONE = itertools.count()


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
        self.key = ("alone", next(_ALONE)) if self.alone else (dataclasses.astuple(self.options), self.attention)


class Batcher:
    """Collects requests arriving within `wait_ms` of the first (up to `max_batch` inputs in all, same
    decoding options) and translates them in one call on a single worker thread.

    `max_batch=1` turns merging off: every request then runs on its own (still off the event loop).
    A request with more inputs than `max_batch` always runs whole.
    """

    def __init__(self, model: Any, max_batch: int = 64, wait_ms: float = 5.0):
        self.model = model
        self.max_batch = max(1, max_batch)
        self.wait = max(0.0, wait_ms) / 1000.0
        self.calls = 0
        self.requests = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._pending: deque[_Job] = deque()
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Start the collecting task and the inference thread (inside the running event loop)."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seq2seq-infer")
        self._task = asyncio.create_task(self._loop(), name="seq2seq-batcher")

    async def stop(self) -> None:
        """Stop collecting; waiting requests get an error."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        leftovers = list(self._pending)
        self._pending.clear()
        while self._queue is not None and not self._queue.empty():
            leftovers.append(self._queue.get_nowait())
        for job in leftovers:
            if not job.future.done():
                job.future.set_exception(RuntimeError("server shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @property
    def waiting(self) -> int:
        """Requests queued and not yet running."""
        return len(self._pending) + (self._queue.qsize() if self._queue is not None else 0)

    async def translate(self, inputs: list[str], options: DecodeConfig, attention: bool = False) -> list[list[Any]]:
        """Translations of `inputs` (per input, nbest best first; with attention weights if asked for), computed
        with other requests' inputs."""
        if self._queue is None or self._task is None:
            raise RuntimeError("batcher not started")
        if self._task.done():
            raise RuntimeError("batcher stopped")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(inputs), options, attention, future))
        return await future

    async def _next_batch(self) -> list[_Job]:
        assert self._queue is not None
        first = self._pending.popleft() if self._pending else await self._queue.get()
        batch, size = [first], len(first.inputs)
        if self.max_batch == 1 or first.alone:
            return batch
        kept: deque[_Job] = deque()
        for job in self._pending:
            if job.key == first.key and size + len(job.inputs) <= self.max_batch:
                batch.append(job)
                size += len(job.inputs)
            else:
                kept.append(job)
        self._pending = kept
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
            if job.key == first.key and size + len(job.inputs) <= self.max_batch:
                batch.append(job)
                size += len(job.inputs)
            else:
                self._pending.append(job)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            batch = [job for job in batch if not job.future.done()]  # the client went away
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._run, batch)
            except asyncio.CancelledError:
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError("server shutting down"))
                raise
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
        results, start = [], 0
        for job in batch:
            results.append(out[start:start + len(job.inputs)])
            start += len(job.inputs)
        return results
