"""SIGTERM to a real `seq2seq serve` process during a burst: it stops accepting connections, answers every
admitted request 200 or 503, and exits with status 0 within --drain-seconds + 1 s."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytestmark = pytest.mark.slow  # a trained model and a server process

BURST = 80


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(run, drain, log_path):
    port = _free_port()
    log = open(log_path, "w")
    cmd = [sys.executable, "-m", "seq2seq", "serve", str(run), "--port", str(port), "--log-level", "warning",
           "--max-batch", "1", "--batch-wait-ms", "0", "--max-queue", "1000", "--drain-seconds", str(drain)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, Path(log_path).read_text()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)


async def _burst_then_sigterm(proc, url):
    """Send BURST requests at once, SIGTERM once many are queued; each request's status (or its error), the
    seconds from the signal to the exit, and whether a connection opened after the first 503 was refused."""
    limits = httpx.Limits(max_connections=BURST + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        body = {"inputs": ["serving"], "beam": 16}
        tasks = [asyncio.create_task(client.post("/v1/translate", json=body)) for _ in range(BURST)]
        deadline = time.monotonic() + 30
        while (await client.get("/health")).json()["queued_inputs"] < BURST // 2:
            assert time.monotonic() < deadline, "the burst never queued up"
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answers = await asyncio.gather(*tasks, return_exceptions=True)
    refused = None
    if any(getattr(a, "status_code", None) == 503 for a in answers):
        try:
            httpx.post(f"{url}/v1/translate", json={"inputs": ["late"]}, timeout=5)
            refused = False
        except httpx.TransportError:
            refused = True
    await asyncio.get_running_loop().run_in_executor(None, proc.wait, 30)
    return answers, time.monotonic() - signalled, refused


@pytest.mark.parametrize("drain", [0.0, 60.0])
def test_sigterm_during_a_burst_answers_every_request_and_exits_0(reverse_run, tmp_path, drain):
    proc, url, log = _start(reverse_run, drain, tmp_path / "serve.log")
    try:
        answers, exit_seconds, refused = asyncio.run(_burst_then_sigterm(proc, url))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert proc.returncode == 0, text
    statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    assert set(statuses) <= {200, 503}, statuses  # every admitted request answered: no error, none hanging
    for a in answers:
        if a.status_code == 503:
            assert a.json()["detail"].startswith("server shutting down")
        else:
            assert a.json()["outputs"][0][0]["text"] == "gnivres"
    if drain == 0:
        # nothing may finish after the signal but the call already running: the queued rest gets 503
        assert statuses.count(503) >= BURST // 2 - 1 and refused is True
        assert exit_seconds <= drain + 1.0, exit_seconds
    else:
        assert statuses == [200] * BURST  # the queue emptied within the drain time
        assert exit_seconds < drain  # and the server did not wait out the rest of it
    assert "Traceback" not in text
