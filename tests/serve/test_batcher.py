"""The request batcher: concurrent requests with equal decoding options merged into one translate call, behind a
queue bounded in inputs that lets go of work nobody waits for, and drained on shutdown."""

import asyncio
import threading
import time

import pytest

from seq2seq import DecodeConfig
from seq2seq.serve import Batcher, Overloaded, ShuttingDown

GREEDY = DecodeConfig()


class FakeModel:
    """Records every translate call; 'boom' fails the call it is in."""

    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay

    def translate(self, inputs, options, attention=False):
        self.calls.append((list(inputs), options))
        time.sleep(self.delay)
        if "boom" in inputs:
            raise RuntimeError("boom")
        beam = options.beam_size if options.strategy == "beam" else 1
        return [[f"{t}/{beam}"] for t in inputs]


def _run_batcher(fake, requests, **kw):
    async def go():
        b = Batcher(fake, **kw)
        await b.start()
        try:
            return await asyncio.gather(*(b.translate(i, o) for i, o in requests), return_exceptions=True)
        finally:
            await b.stop()

    return asyncio.run(go())


def test_batcher_merges_concurrent_requests_with_equal_options():
    fake = FakeModel()
    greedy, beam = DecodeConfig(), DecodeConfig(strategy="beam", beam_size=3)
    requests = [([f"g{i}"], greedy) for i in range(10)] + [([f"b{i}", f"c{i}"], beam) for i in range(3)]
    out = _run_batcher(fake, requests, max_batch=64, wait_ms=50)
    assert out[:10] == [[[f"g{i}/1"]] for i in range(10)]
    assert out[10:] == [[[f"b{i}/3"], [f"c{i}/3"]] for i in range(3)]
    assert sorted(len(inputs) for inputs, _ in fake.calls) == [6, 10]  # one call per set of options
    # equal options, not the same object, are merged; any difference (here the max_length) is not
    fake = FakeModel()
    _run_batcher(fake, [(["a"], DecodeConfig()), (["b"], DecodeConfig()), (["c"], DecodeConfig(max_length=5))],
                 max_batch=64, wait_ms=50)
    assert sorted(len(inputs) for inputs, _ in fake.calls) == [1, 2]
    assert {o.max_length for _, o in fake.calls} == {0, 5}


def test_batcher_respects_max_batch_and_can_be_turned_off():
    fake = FakeModel()
    out = _run_batcher(fake, [([f"x{i}"], GREEDY) for i in range(10)], max_batch=4, wait_ms=50)
    assert out == [[[f"x{i}/1"]] for i in range(10)]
    assert [len(c[0]) for c in fake.calls] == [4, 4, 2]
    fake = FakeModel()
    _run_batcher(fake, [([f"x{i}"], GREEDY) for i in range(5)], max_batch=1, wait_ms=50)
    assert len(fake.calls) == 5
    fake = FakeModel()  # a request larger than max_batch runs whole
    assert _run_batcher(fake, [(["a", "b", "c"], GREEDY)], max_batch=2)[0] == [["a/1"], ["b/1"], ["c/1"]]


def test_batcher_never_merges_sampling_requests():
    fake = FakeModel()
    opts = DecodeConfig(strategy="sample", seed=1)
    _run_batcher(fake, [([f"s{i}"], opts) for i in range(4)], max_batch=64, wait_ms=50)
    assert len(fake.calls) == 4


def test_batcher_isolates_a_failing_request():
    fake = FakeModel()
    out = _run_batcher(fake, [(["ok1"], GREEDY), (["boom"], GREEDY), (["ok2"], GREEDY)], max_batch=64, wait_ms=50)
    assert out[0] == [["ok1/1"]] and out[2] == [["ok2/1"]]
    assert isinstance(out[1], RuntimeError)


def test_batcher_counts_and_refuses_work_when_not_running():
    async def go():
        b = Batcher(FakeModel(), max_batch=8, wait_ms=1)
        try:
            await b.translate(["a"], GREEDY)
        except RuntimeError as e:
            assert "not started" in str(e)
        else:
            raise AssertionError("a batcher that was not started translated")
        await b.start()
        await asyncio.gather(b.translate(["a", "b"], GREEDY), b.translate(["c"], GREEDY))
        assert b.requests == 2 and 1 <= b.calls <= 2 and b.waiting == 0
        await b.stop()

    asyncio.run(go())


# --- admission: a bounded queue, work withdrawn when its caller stops waiting, draining ------------------


class GatedModel(FakeModel):
    """Blocks every call until the gate opens, so that requests pile up behind the first one."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.started = []

    def translate(self, inputs, options, attention=False):
        self.started.append(list(inputs))
        self.gate.wait(10)
        return super().translate(inputs, options, attention)


def test_requests_queued_behind_a_call_run_next_without_the_batch_wait():
    async def go():
        fake = GatedModel()
        b = Batcher(fake, max_batch=8, wait_ms=1000, max_queue=100)
        await b.start()
        first = asyncio.create_task(b.translate(["r"], GREEDY))
        await _until(lambda: b.running_inputs == 1)  # an idle model: the call waited for company, then ran
        queued = [asyncio.create_task(b.translate([f"q{i}"], GREEDY)) for i in range(3)]
        await _until(lambda: b.queued_inputs == 3)
        start = time.monotonic()
        fake.gate.set()
        assert [await q for q in queued] == [[["q0/1"]], [["q1/1"]], [["q2/1"]]]
        assert time.monotonic() - start < 0.5  # not the 1 s a call starting an idle model may wait
        assert fake.started == [["r"], ["q0", "q1", "q2"]]
        await first
        await b.stop()

    asyncio.run(go())


async def _until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def _blocked(max_batch, max_queue):
    """A started batcher over a GatedModel whose model call is held on a first request, ["r"] (its task)."""
    fake = GatedModel()
    b = Batcher(fake, max_batch=max_batch, wait_ms=0, max_queue=max_queue)
    await b.start()
    running = asyncio.create_task(b.translate(["r"], GREEDY))
    await _until(lambda: b.running_inputs == 1)
    return fake, b, running


def test_a_full_queue_refuses_at_once_and_an_empty_one_admits_any_request():
    async def go():
        fake, b, running = await _blocked(max_batch=1, max_queue=4)
        queued = [asyncio.create_task(b.translate([f"q{i}"] * 2, GREEDY)) for i in range(2)]
        await _until(lambda: b.queued_inputs == 4)
        start = time.monotonic()
        with pytest.raises(Overloaded) as refused:
            await b.translate(["one too many"], GREEDY)
        assert time.monotonic() - start < 0.1  # refused without waiting
        assert "4 inputs queued, 1 more would exceed --max-queue 4" in str(refused.value)
        assert refused.value.retry_after >= 1
        assert b.queued_inputs == 4 and b.waiting == 2
        fake.gate.set()
        assert await running == [["r/1"]]
        assert [await q for q in queued] == [[["q0/1"], ["q0/1"]], [["q1/1"], ["q1/1"]]]
        # an empty queue takes a request larger than its bound (it would never fit otherwise)
        assert len(await b.translate(["x"] * 6, GREEDY)) == 6
        await b.stop()

    asyncio.run(go())


def test_the_automatic_bound_is_queue_seconds_of_work_at_the_measured_rate():
    b = Batcher(FakeModel(), max_batch=8, floor=16, queue_seconds=2.0)
    assert b.max_queue == 16  # nothing measured yet: the floor (max_inputs, max_batch)
    b._measured(100, 0.5)  # 200 inputs/s
    assert b.rate == 200 and b.max_queue == 400
    b._measured(100, 1.0)  # a moving average: 0.8 * 200 + 0.2 * 100
    assert b.rate == pytest.approx(180) and b.max_queue == 360
    b.queued_inputs = 360
    assert b.retry_after() == 2
    assert Batcher(FakeModel(), max_queue=10).max_queue == 10
    # the default: a quarter of a second of work, never less than the floor
    b = Batcher(FakeModel(), max_batch=8, floor=16)
    b._measured(1000, 1.0)
    assert b.max_queue == 250
    b._measured(10, 1.0)
    assert b.max_queue == max(16, int(b.rate * 0.25))


def test_a_cancelled_request_leaves_the_queue_and_is_never_translated():
    async def go():
        fake, b, running = await _blocked(max_batch=8, max_queue=100)
        gone = asyncio.create_task(b.translate(["gone1", "gone2"], GREEDY))
        kept = asyncio.create_task(b.translate(["kept"], GREEDY))
        await _until(lambda: b.queued_inputs == 3)
        gone.cancel()  # what a deadline or a disconnect does to the request's task
        await asyncio.wait({gone})
        assert b.queued_inputs == 1 and b.waiting == 1
        fake.gate.set()
        await running
        assert await kept == [["kept/1"]]
        assert [inputs for inputs, _ in fake.calls] == [["r"], ["kept"]]
        await b.stop()

    asyncio.run(go())


def test_drain_finishes_queued_work_in_time_and_refuses_new_work():
    async def go():
        fake = FakeModel(delay=0.01)
        b = Batcher(fake, max_batch=1, wait_ms=0, max_queue=100)
        await b.start()
        queued = [asyncio.create_task(b.translate([f"x{i}"], GREEDY)) for i in range(5)]
        await _until(lambda: b.running_inputs == 1)
        await b.drain(5.0)
        assert [await q for q in queued] == [[[f"x{i}/1"]] for i in range(5)]
        with pytest.raises(ShuttingDown, match="not accepting new requests"):
            await b.translate(["late"], GREEDY)
        await b.stop()

    asyncio.run(go())


def test_drain_drops_what_is_not_done_by_the_deadline():
    async def go():
        fake, b, running = await _blocked(max_batch=1, max_queue=100)
        queued = asyncio.create_task(b.translate(["q"], GREEDY))
        await _until(lambda: b.queued_inputs == 1)
        start = time.monotonic()
        await b.drain(0.2)
        assert 0.2 <= time.monotonic() - start < 1.0
        for task in (running, queued):
            with pytest.raises(ShuttingDown, match="not done by the drain deadline"):
                await task
        assert b.queued_inputs == 0
        fake.gate.set()
        await b.stop()
        assert fake.started == [["r"]]

    asyncio.run(go())
