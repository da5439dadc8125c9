"""Load test of `seq2seq serve` on loopback: the server's capacity (closed loop), then open-loop Poisson arrivals at
multiples of it, each for a fixed time, reporting throughput, p50/p99 latency of admitted requests, the 503 and
504 shares, any other status, the server's RSS before and after, and (server mean ms) the mean time the server
itself took for a 200, from its body read to its answer: the rest of a latency was spent before the server read
the request (socket buffers, its event loop) or in the client. "loop run / wait": the share of the phase the
server's and the client's event-loop threads ran on a CPU and waited for one (a thread that waits often is
starved by other processes).

    .venv/bin/python benchmarks/serve_load.py RUN_DIR                       # 60 s a phase
    .venv/bin/python benchmarks/serve_load.py RUN_DIR --duration 15 --rates 0.5,1,3 --out runs/serve_load

The server runs as a child process (`seq2seq serve`, one inference thread) pinned to one core with
`--server-cpu` (default 0) and this client to the others, on 127.0.0.1 only. Inputs: the run's built-in task
(test-split questions) or `--inputs FILE` (one per line); one input a request. Every phase is bounded in
time (`--duration`, then at most `--timeout` for the answers still out) and in count (`--max-requests`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import json as _json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

HOST = "127.0.0.1"  # loopback only: this never loads anything but a server it started itself


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), NaN elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def schedstat(pid: int | str) -> tuple[float, float]:
    """Seconds a process's main thread (for the server and this client: the event loop) has run on a CPU and
    waited for one (Linux /proc/PID/schedstat), NaN elsewhere."""
    try:
        run, wait = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
        return int(run) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return math.nan, math.nan


def handler_seconds(url: str) -> tuple[float, float]:
    """The server's own count and sum of seconds of its 200 answers to /v1/translate (from /metrics)."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(("seq2seq_translate_seconds_count ", "seq2seq_translate_seconds_sum ")):
            name, value = line.split()
            values[name] = float(value)
    return values.get("seq2seq_translate_seconds_count", 0.0), values.get("seq2seq_translate_seconds_sum", 0.0)


def inputs_of(run: Path, path: str | None, n: int) -> list[str]:
    """Request texts: the file's lines, or questions of the run's built-in task."""
    if path:
        lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            raise SystemExit(f"{path}: no inputs")
        return lines
    from seq2seq.data.tasks import generate_splits
    from seq2seq.inference.load import load

    task = load(run).config.data.task
    if not task:
        raise SystemExit(f"{run} was not trained on a built-in task: give --inputs FILE")
    return [src for src, _ in generate_splits(task, 0, 0, n, seed=12345)["test"]]


def offline_rate(run: Path, texts: list[str], batch: int, seconds: float) -> float:
    """Inputs per second of Model.translate on full batches in this process, one thread: the batcher's ceiling."""
    import torch

    from seq2seq.inference.load import load

    torch.set_num_threads(1)
    model = load(run, threads=1)
    model.translate(texts[:batch])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chunk = [texts[(done + i) % len(texts)] for i in range(batch)]
        model.translate(chunk)
        done += batch
    return done / (time.perf_counter() - start)


def start_server(run: Path, cpu: int | None, extra: list[str]) -> tuple[subprocess.Popen, str]:
    """`seq2seq serve RUN` on a free loopback port, pinned to `cpu`; waits until /health answers."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "seq2seq", "serve", str(run), "--host", HOST, "--port", str(port),
           "--log-level", "warning", "--threads", "1", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None and hasattr(os, "sched_setaffinity") else None
    proc = subprocess.Popen(cmd, env=env, preexec_fn=pin)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


class RawClient:
    """A minimal HTTP/1.1 client over asyncio streams, keep-alive connections reused: a tenth of httpx's CPU per
    request, so that one core can offer several times a small model server's capacity. It reads only
    Content-Length bodies (what the server sends)."""

    def __init__(self, url: str, timeout: float):
        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        self.host, self.port, self.timeout = host, int(port), timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()

    async def post(self, path: str, json: dict) -> int:
        """The status of a POST of `json` to `path`."""
        return await asyncio.wait_for(self._post(path, _json.dumps(json).encode()), self.timeout)

    async def _post(self, path: str, body: bytes) -> int:
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        while self.idle:  # a kept connection the server has closed since (its keep-alive timeout) reads b""
            reader, writer = self.idle.pop()
            writer.write(request)
            try:
                first = await reader.readline()
            except ConnectionError:
                first = b""
            if first:
                return await self._rest(reader, writer, first)
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(request)
        return await self._rest(reader, writer, await reader.readline())

    async def _rest(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes) -> int:
        try:
            status = int(first.split()[1])
            length, keep = 0, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    keep = False
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return status


def make_client(kind: str, url: str, timeout: float, connections: int | None) -> Any:
    """The load's client: `raw` (RawClient) or `httpx` (an httpx.AsyncClient)."""
    if kind == "raw":
        return RawClient(url, timeout)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections or 512)
    return httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)


async def _post(client: Any, text: str, results: list, sent: float) -> None:
    try:
        r = await client.post("/v1/translate", json={"inputs": [text]})
        status = r if isinstance(r, int) else r.status_code
    except (httpx.TimeoutException, asyncio.TimeoutError):
        status = "client timeout"
    except (httpx.TransportError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        status = type(e).__name__
    results.append((status, time.perf_counter() - sent))


async def capacity(url: str, texts: list[str], concurrency: int, seconds: float, timeout: float,
                   kind: str = "raw") -> float:
    """Requests per second answered 200 with `concurrency` requests always in flight (closed loop)."""
    results: list = []
    stop = time.perf_counter() + seconds
    async with make_client(kind, url, timeout, concurrency) as client:
        async def worker(i: int) -> None:
            k = i
            while time.perf_counter() < stop:
                await _post(client, texts[k % len(texts)], results, time.perf_counter())
                k += concurrency

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return sum(1 for status, _ in results if status == 200) / elapsed


async def open_loop(url: str, texts: list[str], rate: float, seconds: float, max_requests: int,
                    timeout: float, seed: int, kind: str = "raw") -> dict:
    """Poisson arrivals at `rate` per second for `seconds` (at most `max_requests`): statuses and latencies."""
    rng = random.Random(seed)
    results: list = []
    tasks = []
    async with make_client(kind, url, timeout, None) as client:
        start = time.perf_counter()
        due, lag = start, 0.0
        while len(tasks) < max_requests:
            due += rng.expovariate(rate)
            if due - start > seconds:
                break
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                lag = max(lag, now - due)
            text = texts[len(tasks) % len(texts)]
            tasks.append(asyncio.create_task(_post(client, text, results, due)))
        sent_for = time.perf_counter() - start
        await asyncio.wait(tasks, timeout=timeout + 5)
        unanswered = sum(not t.done() for t in tasks)
        for t in tasks:
            t.cancel()
        elapsed = time.perf_counter() - start
    ok = sorted(lat for status, lat in results if status == 200)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def pct(q: float) -> float:
        return ok[min(len(ok) - 1, int(q * len(ok)))] * 1000 if ok else math.nan

    return {"offered_rps": rate, "sent": len(tasks), "sent_rps": len(tasks) / sent_for, "statuses": statuses,
            "unanswered": unanswered, "throughput_rps": len(ok) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "share_503": statuses.get("503", 0) / max(1, len(tasks)),
            "share_504": statuses.get("504", 0) / max(1, len(tasks)), "client_max_lag_ms": lag * 1000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run directory (or exported model) to serve")
    p.add_argument("--inputs", help="request texts, one per line (default: the run's task's test questions)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of arrivals per rate (default 60)")
    p.add_argument("--rates", default="0.5,1,3", help="multiples of the measured capacity (default 0.5,1,3)")
    p.add_argument("--capacity-seconds", type=float, default=10.0, help="seconds of the closed-loop measurement")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight while measuring capacity")
    p.add_argument("--offline-seconds", type=float, default=5.0, help="seconds of in-process full batches")
    p.add_argument("--max-batch", type=int, default=64, help="the server's --max-batch")
    p.add_argument("--max-requests", type=int, default=100_000, help="cap on requests per phase")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout per request (s)")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw",
                   help="raw: asyncio streams, keep-alive (cheap); httpx: httpx.AsyncClient (about 10x the CPU)")
    p.add_argument("--server-cpu", type=int, default=0, help="core for the server (-1: no pinning)")
    p.add_argument("--serve-args", default="", help="more `seq2seq serve` flags, e.g. '--max-queue 256'")
    p.add_argument("--out", type=Path, help="directory for serve_load.json and serve_load.md")
    args = p.parse_args()

    texts = inputs_of(args.run, args.inputs, 2000)
    machine = print_machine()  # before the client is pinned away from the server's core
    server_cpu = None if args.server_cpu < 0 else args.server_cpu
    if server_cpu is not None and hasattr(os, "sched_setaffinity"):
        others = set(range(os.cpu_count() or 1)) - {server_cpu}
        if others:
            os.sched_setaffinity(0, others)
    offline = offline_rate(args.run, texts, args.max_batch, args.offline_seconds)
    print(f"offline: {offline:.0f} inputs/s (Model.translate, batches of {args.max_batch}, one thread)", flush=True)
    extra = ["--max-batch", str(args.max_batch), *args.serve_args.split()]
    proc, url = start_server(args.run, server_cpu, extra)
    report: dict = {"machine": machine, "python": platform.python_version(), "run": str(args.run),
                    "offline_inputs_per_s": offline, "client": args.client,
                    "serve_args": extra, "duration_s": args.duration, "phases": []}
    try:
        rss_start = rss_mib(proc.pid)
        cap = asyncio.run(capacity(url, texts, args.concurrency, args.capacity_seconds, args.timeout, args.client))
        report.update(capacity_rps=cap, rss_start_mib=rss_start, load_average=os.getloadavg())
        print(f"capacity: {cap:.0f} requests/s (closed loop, {args.concurrency} in flight, one input each); "
              f"offline / capacity = {offline / cap:.2f}", flush=True)
        for i, factor in enumerate(float(f) for f in args.rates.split(",")):
            before, cpu, wall = rss_mib(proc.pid), cpu_seconds(proc.pid), time.perf_counter()
            n0, s0 = handler_seconds(url)
            loops0 = schedstat(proc.pid) + schedstat("self")
            phase = asyncio.run(open_loop(url, texts, factor * cap, args.duration, args.max_requests, args.timeout,
                                          seed=i, kind=args.client))
            share = (cpu_seconds(proc.pid) - cpu) / (time.perf_counter() - wall)  # all the server's threads
            n1, s1 = handler_seconds(url)
            wall = time.perf_counter() - wall
            loops = [(b - a) / wall for a, b in zip(loops0, schedstat(proc.pid) + schedstat("self"))]
            phase.update(server_loop_run=loops[0], server_loop_wait=loops[1], client_loop_run=loops[2],
                         client_loop_wait=loops[3])
            phase["server_mean_ms"] = (s1 - s0) / (n1 - n0) * 1000 if n1 > n0 else math.nan
            phase.update(factor=factor, rss_before_mib=before, rss_after_mib=rss_mib(proc.pid), server_cpu_share=share)
            report["phases"].append(phase)
            print(json.dumps(phase), flush=True)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        report["server_5xx_other"] = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("seq2seq_requests_total") and 'status="5' in line
            and 'status="503"' not in line and 'status="504"' not in line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            report["exit_status"] = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            report["exit_status"] = "killed"
    table = ["| load | offered req/s | sent req/s | throughput (200/s) | p50 ms | p99 ms | 503 | 504 | other | "
             "RSS before → after MiB | server CPU | server mean ms | server loop run / wait | "
             "client loop run / wait |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |"]
    for ph in report["phases"]:
        other = sum(n for s, n in ph["statuses"].items() if s not in ("200", "503", "504")) + ph["unanswered"]
        table.append(f"| {ph['factor']:g}x | {ph['offered_rps']:.0f} | {ph['sent_rps']:.0f} | "
                     f"{ph['throughput_rps']:.0f} | {ph['p50_ms']:.0f} | {ph['p99_ms']:.0f} | {ph['share_503']:.1%} | "
                     f"{ph['share_504']:.1%} | {other} | {ph['rss_before_mib']:.0f} → {ph['rss_after_mib']:.0f} | "
                     f"{ph['server_cpu_share']:.0%} | {ph['server_mean_ms']:.0f} | {ph['server_loop_run']:.0%} / "
                     f"{ph['server_loop_wait']:.0%} | {ph['client_loop_run']:.0%} / {ph['client_loop_wait']:.0%} |")
    md = "\n".join([report["machine"], f"Python {report['python']}; client {args.client}; offline {offline:.0f} "
                    f"inputs/s; capacity "
                    f"{report.get('capacity_rps', math.nan):.0f} requests/s; {args.duration:g} s a phase; server "
                    f"exit status {report['exit_status']}; load average at start "
                    f"{report.get('load_average', (math.nan,))[0]:.1f}; server CPU: the share of one core it got"
                    f"; other 5xx seen by the server: {report.get('server_5xx_other', math.nan):g}", "", *table])
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("serve_load.json", json.dumps(report, indent=1)), ("serve_load.md", md + "\n")):
            tmp = args.out / (name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(args.out / name)


if __name__ == "__main__":
    main()
