"""The request batcher: concurrent requests with equal decoding options merged into one translate call."""

import asyncio
import time

from seq2seq import DecodeConfig
from seq2seq.serve import Batcher

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
