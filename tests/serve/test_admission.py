"""Admission control over HTTP: a full queue answers 503 with Retry-After at once, a deadline answers 504, and
the work of a request that timed out or whose client went away leaves the queue untranslated."""

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
import seq2seq  # noqa: E402
from seq2seq.serve import ServeOptions, create_app  # noqa: E402

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"


class Gate:
    """Stands in for Model.translate: records each call, then waits for the gate before translating."""

    def __init__(self, model):
        self.real = model.translate
        self.open = threading.Event()
        self.calls = []

    def __call__(self, inputs, options=None, **kw):
        self.calls.append(list(inputs))
        self.open.wait(10)
        return self.real(inputs, options, **kw)


def _gated_app(**limits):
    model = seq2seq.load(V1 / "tokens")
    gate = Gate(model)
    model.translate = gate
    opts = ServeOptions(max_inputs=4, batch_wait_ms=0, max_batch=1, **limits)
    return create_app(model, opts), gate


async def _until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def _holding_the_model(client, gate) -> asyncio.Task:
    """A request of ["abc"] whose model call has begun and waits on the gate (its task): what queues next waits."""
    running = asyncio.create_task(client.post("/v1/translate", json={"inputs": ["abc"]}))
    await _until(lambda: len(gate.calls) == 1)
    return running


def _run(app, scenario):
    """Run `scenario(client, batcher)` against the app (its lifespan started) in one event loop."""
    async def go():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=20) as client:
                return await scenario(client, app.state.batcher)

    return asyncio.run(go())


def test_a_full_queue_answers_503_with_retry_after_at_once():
    app, gate = _gated_app(max_queue=4)

    async def scenario(client, batcher):
        running = await _holding_the_model(client, gate)
        queued = asyncio.create_task(client.post("/v1/translate", json={"inputs": ["a", "b", "c", "d"]}))
        await _until(lambda: batcher.queued_inputs == 4)
        start = time.monotonic()
        refused = await client.post("/v1/translate", json={"inputs": ["e"]})
        waited = time.monotonic() - start
        gate.open.set()
        return refused, waited, await running, await queued

    refused, waited, running, queued = _run(app, scenario)
    assert refused.status_code == 503 and waited < 1.0
    assert int(refused.headers["retry-after"]) >= 1
    assert "--max-queue 4" in refused.json()["detail"]
    assert running.status_code == 200 and queued.status_code == 200
    assert len(queued.json()["outputs"]) == 4
    assert ["e"] not in gate.calls


def test_a_full_queue_refuses_before_the_body_is_read_and_a_nearly_full_one_after():
    app, gate = _gated_app(max_queue=4)
    read = []

    async def scenario(client, batcher):
        running = await _holding_the_model(client, gate)
        queued = asyncio.create_task(client.post("/v1/translate", json={"inputs": ["a", "b", "c"]}))
        await _until(lambda: batcher.queued_inputs == 3)
        assert not batcher.full()
        too_many = await client.post("/v1/translate", json={"inputs": ["d", "e"]})  # 3 + 2 > 4: parsed, refused

        async def body():  # a body the server would have to read: it never asks for it
            read.append(True)
            yield b'{"inputs": ["f"]}'

        fits = asyncio.create_task(client.post("/v1/translate", json={"inputs": ["f"]}))  # 3 + 1 fits
        await _until(lambda: batcher.queued_inputs == 4)
        assert batcher.full()
        unread = await client.post("/v1/translate", content=body(), headers={"content-type": "application/json"})
        gate.open.set()
        return too_many, unread, [await t for t in (running, queued, fits)]

    too_many, unread, done = _run(app, scenario)
    assert too_many.status_code == 503 and "would exceed --max-queue 4" in too_many.json()["detail"]
    assert unread.status_code == 503 and "the queue is full (--max-queue 4 now)" in unread.json()["detail"]
    assert int(unread.headers["retry-after"]) >= 1 and read == []
    assert [r.status_code for r in done] == [200, 200, 200]


def test_a_request_past_its_deadline_gets_504_and_its_queued_work_is_dropped():
    app, gate = _gated_app(max_queue=16)

    async def scenario(client, batcher):
        running = await _holding_the_model(client, gate)
        start = time.monotonic()
        late = await client.post("/v1/translate", json={"inputs": ["late", "too"], "timeout_ms": 200})
        waited = time.monotonic() - start
        after = batcher.queued_inputs
        gate.open.set()
        await running
        return late, waited, after, batcher.calls

    late, waited, queued_after, calls = _run(app, scenario)
    assert late.status_code == 504
    assert late.json()["detail"] == "not done within 200 ms (--request-timeout or the request's timeout_ms)"
    assert 0.2 <= waited < 2.0
    assert queued_after == 0 and gate.calls == [["abc"]] and calls == 1


def test_the_servers_request_timeout_caps_the_requests_timeout_ms():
    app, gate = _gated_app(request_timeout=0.2)

    async def scenario(client, batcher):
        r = await client.post("/v1/translate", json={"inputs": ["abc"], "timeout_ms": 60_000})
        gate.open.set()
        return r

    r = _run(app, scenario)
    assert r.status_code == 504 and "within 200 ms" in r.json()["detail"]


def _raw_call(app, body: bytes, hang_up: asyncio.Event, sent: list) -> asyncio.Task:
    """A raw ASGI POST /v1/translate whose client sends `body`, then closes the connection once `hang_up` is set
    (never, if nobody sets it); the answer's messages go to `sent`."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/translate", "raw_path": b"/v1/translate", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    return asyncio.create_task(app(scope, receive, send))


def test_a_client_that_disconnects_frees_its_queued_work():
    app, gate = _gated_app(max_queue=16)
    sent = []

    async def scenario(client, batcher):
        running = await _holding_the_model(client, gate)
        hang_up = asyncio.Event()
        call = _raw_call(app, b'{"inputs": ["bye", "now", "gone"]}', hang_up, sent)
        await _until(lambda: batcher.queued_inputs == 3)
        hang_up.set()
        await asyncio.wait_for(call, 5)
        after = batcher.queued_inputs
        gate.open.set()
        await running
        return after

    assert _run(app, scenario) == 0
    assert gate.calls == [["abc"]]  # the inputs of the client that left were never translated
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]


def test_a_request_cancelled_from_outside_is_not_answered_and_frees_its_queued_work():
    # The deadline and the disconnect watcher cancel the request's own task; a cancellation from elsewhere (the
    # server stopping) must still end the request as a cancellation, not as a 504 or a 499.
    app, gate = _gated_app(max_queue=16)
    sent = []

    async def scenario(client, batcher):
        running = await _holding_the_model(client, gate)
        call = _raw_call(app, b'{"inputs": ["never", "run"]}', asyncio.Event(), sent)  # the client stays
        await _until(lambda: batcher.queued_inputs == 2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        after = batcher.queued_inputs
        gate.open.set()
        await running
        return after

    assert _run(app, scenario) == 0
    assert gate.calls == [["abc"]]
    assert sent == []


def test_requests_in_flight_beyond_the_bound_get_503_before_their_body_is_read():
    from seq2seq.serve.admission import InFlight, InFlightLimit

    async def go():
        release = asyncio.Event()
        statuses, read = [], []

        async def slow_app(scope, receive, send):
            read.append((await receive())["body"])
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        state = InFlight(fixed=None, floor=3, seconds=2.0)
        limited = InFlightLimit(slow_app, state)

        async def call(path="/v1/translate", method="POST"):
            sent = []

            async def receive():
                return {"type": "http.request", "body": b"x", "more_body": False}

            async def send(message):
                sent.append(message)

            await limited({"type": "http", "path": path, "method": method}, receive, send)
            statuses.append(sent[0]["status"])
            return sent[0]

        held = [asyncio.create_task(call()) for _ in range(3)]
        await _until(lambda: state.count == 3)
        refused = await call()
        assert refused["status"] == 503 and (b"retry-after", b"1") in refused["headers"]
        assert len(read) == 3  # its body was never read
        other = asyncio.create_task(call("/v1/model", "GET"))  # other routes are not counted
        await _until(lambda: len(read) == 4)
        release.set()
        await asyncio.gather(*held, other)
        # 3 POSTs answered (the GET is not counted) within the first second: 3 per second
        assert state.count == 0 and state.rate() == pytest.approx(3.0)
        # the automatic bound is `seconds` of answers at the best recent rate, at least the floor
        state._answered.extend([time.monotonic()] * 20)
        assert state.limit == 2 * 23 and InFlight(fixed=7, floor=3).limit == 7
        # a slower rate now does not lower it at once: the best rate is forgotten with a 30 s half-life
        state._answered.clear()
        state._peak_at -= 30
        assert 22 <= state.limit <= 23  # 23 answers a second, halved, times 2 s
        state._peak_at -= 300
        assert state.limit == 3  # long forgotten: the floor
        assert InFlight(fixed=None, floor=3).seconds == 0.25  # --max-queue-ms's default
        return statuses

    assert sorted(asyncio.run(go())) == [200] * 4 + [503]


def test_serve_freezes_what_it_loaded_before_serving(monkeypatch):
    import gc

    from seq2seq.cli import main
    from seq2seq.serve import server as server_module

    frozen = []
    monkeypatch.setattr(server_module.DrainingServer, "run", lambda self: frozen.append(gc.get_freeze_count()))
    try:
        assert main(["serve", str(V1 / "tokens"), "--log-level", "warning"]) == 0
    finally:
        gc.unfreeze()  # back to the test process's own collection
    assert frozen and frozen[0] > 10_000  # torch and the model: the full collections skip them


def test_queue_time_and_connection_limits_reach_the_batcher_and_uvicorn(monkeypatch, capsys):
    from seq2seq.cli import main
    from seq2seq.serve import server as server_module

    configs = []
    monkeypatch.setattr(server_module.DrainingServer, "run", lambda self: configs.append(self.config))
    assert main(["serve", str(V1 / "tokens"), "--max-queue-ms", "40", "--max-connections", "7",
                 "--log-level", "warning"]) == 0
    (config,) = configs
    assert config.limit_concurrency == 7  # uvicorn answers 503 itself past 7 connections or requests
    batcher = config.app.state.batcher
    assert batcher.queue_seconds == pytest.approx(0.04) and config.app.state.in_flight.seconds == pytest.approx(0.04)
    for flags, message in ((["--max-queue-ms", "0"], "--max-queue-ms must be > 0 and finite, got 0.0"),
                           (["--max-queue-ms", "inf"], "--max-queue-ms must be > 0 and finite, got inf"),
                           (["--max-connections", "0"], "--max-connections must be at least 1, got 0")):
        assert main(["serve", str(V1 / "tokens"), *flags]) == 2
        assert message in capsys.readouterr().err
