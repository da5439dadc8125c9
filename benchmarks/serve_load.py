"""Load test of `seq2seq serve` on loopback: open-loop Poisson arrivals at multiples of the server's capacity, each
for a fixed time, then SIGTERM during a burst; it reports throughput, p50/p99 latency of admitted requests, the
admitted, 503 and 504 shares, any other answer or error, the server's RSS, where the server's core went (its event
loop, its inference thread), and checks the targets of issue 31.

    .venv/bin/python benchmarks/serve_load.py                     # trains runs/load-date first if it is missing
    .venv/bin/python benchmarks/serve_load.py RUN_DIR --duration 20 --rates 0.5,1,3 --out runs/serve_load

1x is the server's measured capacity (`--capacity server`, the default): the requests per second it answers 200 in
a closed loop that keeps two full batches in flight, measured for `--capacity-seconds` just before each phase. The
batcher's offline rate is `Model.translate` on full batches of `--max-batch` in this process, one thread, pinned to
the server's core, in inputs per second, measured at the start and just before and after each phase; throughput is
compared with it. `--capacity offline` offers the offline rate itself as 1x (with `--inputs-per-request K`, that
rate divided by K requests per second): the most the server could do if HTTP cost nothing, a stricter load.
The client pools `--connections` keep-alive connections (as a service calling a model server does); a request
finding them all busy waits for one, and that wait counts in its latency, which runs from the request's scheduled
send time. The server runs as a child process (`seq2seq serve`, one inference thread) pinned to `--server-cpu`;
the client on `--client-cpus` (default: the other cores), on 127.0.0.1 only. Every phase is bounded in time
(`--duration`, then at most `--timeout` for the answers still out) and in count (`--max-requests`). "loop run /
wait": the share of the phase the server's and the client's event-loop threads ran on a CPU and waited for one (a
thread that waits often is starved by other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Iterator
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


def loop_cpu(pid: int) -> float:
    """CPU seconds so far of a server's event loop, its main thread (Linux /proc), NaN elsewhere; the rest of its
    CPU is the inference thread's (torch runs single-threaded in it)."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
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


def server_counts(url: str) -> dict[str, float]:
    """The server's own counts from /metrics: its 200 answers to /v1/translate and their seconds, its model calls,
    the inputs in them and their seconds."""
    names = ("seq2seq_translate_seconds_count", "seq2seq_translate_seconds_sum", "seq2seq_batch_inputs_count",
             "seq2seq_batch_inputs_sum", "seq2seq_batch_seconds_sum")
    values = dict.fromkeys(names, 0.0)
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        name, _, value = line.partition(" ")
        if name in values:
            values[name] = float(value)
    return values


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


class Offline:
    """The batcher's ceiling: `Model.translate` on full batches in this process, one thread, pinned to the
    server's core while it measures (then back to the client's cores). Measured before the run and around
    every phase, so that a machine whose speed drifts (a cloud VM's neighbours) is compared with itself."""

    def __init__(self, run: Path, texts: list[str], batch: int, server_cpu: int | None, client_cpus: set[int]):
        import torch

        from seq2seq.inference.load import load

        torch.set_num_threads(1)
        self.texts, self.batch, self.done = texts, batch, 0
        self.server_cpu, self.client_cpus = server_cpu, client_cpus
        with self._pinned():
            self.model = load(run, threads=1)
            self.model.translate(texts[:batch])

    @contextlib.contextmanager
    def _pinned(self) -> Iterator[None]:
        pin = hasattr(os, "sched_setaffinity") and self.server_cpu is not None
        if pin:
            os.sched_setaffinity(0, {self.server_cpu})
        try:
            yield
        finally:
            if pin and self.client_cpus:
                os.sched_setaffinity(0, self.client_cpus)

    def rate(self, seconds: float) -> tuple[float, float]:
        """Inputs per second over `seconds`, and per CPU second of this thread."""
        with self._pinned():
            n, start, cpu = 0, time.perf_counter(), time.thread_time()
            while time.perf_counter() - start < seconds:
                self.model.translate([self.texts[(self.done + i) % len(self.texts)] for i in range(self.batch)])
                n += self.batch
                self.done += self.batch
            return n / (time.perf_counter() - start), n / (time.thread_time() - cpu)


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
    """A minimal HTTP/1.1 client over asyncio streams with a pool of at most `connections` keep-alive
    connections, as a service calling a model server pools them (httpx's default pool is 100). A request
    finding every connection busy waits for one in FIFO order, and that wait counts in its latency. About a tenth
    of httpx's CPU per request, so that one core can offer several times a small model server's capacity. It
    reads only Content-Length bodies (what the server sends)."""

    def __init__(self, url: str, timeout: float, connections: int = 64):
        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        self.host, self.port, self.timeout = host, int(port), timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(max(1, connections))
        self.opened = 0  # connections opened: with reuse, about `connections` a phase

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()

    async def post(self, path: str, json: dict) -> int:
        """The status of a POST of `json` to `path` (waiting for a free connection first)."""
        body = _json.dumps(json).encode()
        async with asyncio.timeout(self.timeout):
            async with self.slots:
                return await self._post(path, body)

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
        self.opened += 1
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


def make_client(kind: str, url: str, timeout: float, connections: int) -> Any:
    """The load's client: `raw` (RawClient) or `httpx` (an httpx.AsyncClient), at most `connections` open."""
    if kind == "raw":
        return RawClient(url, timeout, connections)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)


async def _post(client: Any, inputs: list[str], results: list, sent: float) -> None:
    try:
        r = await client.post("/v1/translate", json={"inputs": inputs})
        status = r if isinstance(r, int) else r.status_code
    except (httpx.TimeoutException, asyncio.TimeoutError):
        status = "client timeout"
    except (httpx.TransportError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        status = type(e).__name__
    results.append((status, time.perf_counter() - sent))


def request_inputs(texts: list[str], i: int, per_request: int) -> list[str]:
    """The inputs of the i-th request: `per_request` consecutive texts."""
    return [texts[(i * per_request + j) % len(texts)] for j in range(per_request)]


async def closed_loop(url: str, texts: list[str], per_request: int, concurrency: int, seconds: float,
                      timeout: float, kind: str = "raw") -> float:
    """Requests per second answered 200 with `concurrency` requests always in flight (closed loop)."""
    results: list = []
    stop = time.perf_counter() + seconds
    async with make_client(kind, url, timeout, concurrency) as client:
        async def worker(i: int) -> None:
            k = i
            while time.perf_counter() < stop:
                await _post(client, request_inputs(texts, k, per_request), results, time.perf_counter())
                k += concurrency

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return sum(1 for status, _ in results if status == 200) / elapsed


async def open_loop(url: str, texts: list[str], per_request: int, rate: float, seconds: float, max_requests: int,
                    timeout: float, seed: int, kind: str, connections: int) -> dict:
    """Poisson arrivals at `rate` per second for `seconds` (at most `max_requests`): statuses and latencies."""
    rng = random.Random(seed)
    results: list = []
    tasks = []
    async with make_client(kind, url, timeout, connections) as client:
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
            inputs = request_inputs(texts, len(tasks), per_request)
            tasks.append(asyncio.create_task(_post(client, inputs, results, due)))
        sent_for = time.perf_counter() - start
        await asyncio.wait(tasks, timeout=timeout + 5)
        unanswered = sum(not t.done() for t in tasks)
        for t in tasks:
            t.cancel()
        elapsed = time.perf_counter() - start
        opened = getattr(client, "opened", math.nan)
    ok = sorted(lat for status, lat in results if status == 200)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def pct(q: float) -> float:
        return ok[min(len(ok) - 1, int(q * len(ok)))] * 1000 if ok else math.nan

    return {"offered_rps": rate, "sent": len(tasks), "sent_rps": len(tasks) / sent_for, "statuses": statuses,
            "unanswered": unanswered, "throughput_rps": len(ok) / elapsed,
            "throughput_inputs_per_s": len(ok) * per_request / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "admitted": len(ok) / max(1, len(tasks)), "share_503": statuses.get("503", 0) / max(1, len(tasks)),
            "share_504": statuses.get("504", 0) / max(1, len(tasks)), "client_max_lag_ms": lag * 1000,
            "connections_opened": opened}


def ensure_run(run: Path) -> None:
    """Train the date model into `run` (3 epochs, one thread, about a minute) unless it holds a checkpoint."""
    if (run / "checkpoints").is_dir() or (run / "model.json").exists() or (run / "config.yaml").exists():
        return
    cmd = [sys.executable, "-m", "seq2seq", "train", "--task", "date", "--preset", "attention", "--epochs", "3",
           "--set", "train.threads=1", "--out", str(run)]
    print("training the date model:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


async def sigterm_burst(proc: subprocess.Popen, url: str, texts: list[str], per_request: int, rate: float,
                        timeout: float, connections: int, kind: str) -> dict:
    """Open-loop arrivals at `rate` for 2 s with SIGTERM to the server after 1 s: each request's status, and the
    seconds from the signal to the server's exit."""
    results: list = []
    tasks = []
    rng = random.Random(99)
    async with make_client(kind, url, timeout, connections) as client:
        start = time.perf_counter()
        due, signalled = start, None
        while due - start < 2.0:
            due += rng.expovariate(rate)
            if signalled is None and due - start >= 1.0:
                proc.send_signal(signal.SIGTERM)
                signalled = time.perf_counter()
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(_post(client, request_inputs(texts, len(tasks), per_request), results,
                                                   due)))
        await asyncio.wait(tasks, timeout=timeout + 5)
        unanswered = sum(not t.done() for t in tasks)
        for t in tasks:
            t.cancel()
    while proc.poll() is None and time.perf_counter() - (signalled or start) < 60:
        await asyncio.sleep(0.01)
    exited = time.perf_counter() - (signalled or start) if proc.poll() is not None else math.nan
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"statuses": statuses, "unanswered": unanswered, "exit_status": proc.poll(), "exit_after_s": exited}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, nargs="?", default=Path("runs/load-date"),
                   help="run directory (or exported model) to serve; trained (the date model) if it does not "
                        "exist (default runs/load-date)")
    p.add_argument("--inputs", help="request texts, one per line (default: the run's task's test questions)")
    p.add_argument("--inputs-per-request", type=int, default=8, help="inputs in every request (default 8)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of arrivals per rate (default 60)")
    p.add_argument("--rates", default="0.5,1,3", help="multiples of the capacity (default 0.5,1,3)")
    p.add_argument("--connections", type=int, default=256,
                   help="the client's pool of keep-alive connections (default 256)")
    p.add_argument("--closed-loop-seconds", type=float, default=5.0,
                   help="seconds of the closed-loop measurement (also the server's warm-up), reported beside the "
                        "capacity (0: skip)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight in the closed loop (default 16)")
    p.add_argument("--offline-seconds", type=float, default=5.0, help="seconds of in-process full batches")
    p.add_argument("--bracket-seconds", type=float, default=3.0,
                   help="seconds of the offline rate measured again just before and after each phase, the server "
                        "idle (0: skip): the phase's throughput is compared with the mean of the two, and with "
                        "--capacity offline the rate before sets the phase's 1x")
    p.add_argument("--capacity", choices=["server", "offline"], default="server",
                   help="what 1x is: the server's closed-loop rate measured just before each phase (default), or "
                        "the batcher's offline rate (the most the server could do if HTTP cost nothing)")
    p.add_argument("--capacity-seconds", type=float, default=5.0,
                   help="seconds of the closed loop that measures the server's capacity before each phase")
    p.add_argument("--max-batch", type=int, default=64, help="the server's --max-batch")
    p.add_argument("--max-requests", type=int, default=100_000, help="cap on requests per phase")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout per request (s)")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw",
                   help="raw: asyncio streams, pooled keep-alive connections (cheap); httpx: httpx.AsyncClient "
                        "(about 10x the CPU)")
    p.add_argument("--server-cpu", type=int, default=0, help="core for the server (-1: no pinning)")
    p.add_argument("--client-cpus", default="",
                   help="cores for this client, e.g. '1' (default: every core but the server's; the same core as "
                        "the server when it is the only one allowed)")
    p.add_argument("--no-sigterm", action="store_true", help="skip the SIGTERM-during-a-burst check at the end")
    p.add_argument("--serve-args", default="", help="more `seq2seq serve` flags, e.g. '--max-queue 256'")
    p.add_argument("--out", type=Path, help="directory for serve_load.json and serve_load.md")
    args = p.parse_args()

    ensure_run(args.run)
    k = args.inputs_per_request
    texts = inputs_of(args.run, args.inputs, 2000)
    machine = print_machine()  # before the client is pinned away from the server's core
    server_cpu = None if args.server_cpu < 0 else args.server_cpu
    client_cpus: set[int] = set()
    if hasattr(os, "sched_setaffinity"):
        allowed = os.sched_getaffinity(0)
        if args.client_cpus:
            client_cpus = {int(c) for c in args.client_cpus.split(",")}
        else:
            client_cpus = allowed - {server_cpu} if server_cpu is not None and allowed - {server_cpu} else allowed
    bench = Offline(args.run, texts, args.max_batch, server_cpu, client_cpus)
    # The faster of two rounds: a slow first round would offer the server less than its capacity at "1x".
    offline, offline_cpu = max(bench.rate(args.offline_seconds) for _ in range(2))
    cap = offline / k  # requests/s: the batcher's offline rate, in requests of k inputs
    print(f"offline: {offline:.0f} inputs/s (Model.translate, batches of {args.max_batch}, one thread); capacity: "
          f"{cap:.0f} requests/s of {k} inputs", flush=True)
    extra = ["--max-batch", str(args.max_batch), *args.serve_args.split()]
    proc, url = start_server(args.run, server_cpu, extra)
    report: dict = {"machine": machine, "python": platform.python_version(), "run": str(args.run),
                    "offline_inputs_per_s": offline, "offline_inputs_per_cpu_s": offline_cpu,
                    "inputs_per_request": k, "capacity_rps": cap, "capacity": args.capacity,
                    "client": args.client, "connections": args.connections, "serve_args": extra,
                    "duration_s": args.duration, "phases": [], "client_cpus": sorted(os.sched_getaffinity(0))}
    try:
        rss_start = rss_mib(proc.pid)
        report.update(rss_start_mib=rss_start, load_average=os.getloadavg())
        if args.closed_loop_seconds > 0:
            closed = asyncio.run(closed_loop(url, texts, k, args.concurrency, args.closed_loop_seconds, args.timeout,
                                             args.client))
            report["closed_loop_rps"] = closed
            print(f"closed loop: {closed:.0f} requests/s ({closed * k:.0f} inputs/s, {args.concurrency} in "
                  f"flight) = {closed * k / offline:.0%} of the offline rate", flush=True)
        # Two full batches in flight (one running, one waiting) keep the model busy without a queue to refuse from.
        busy = max(2, math.ceil(2 * args.max_batch / k) + 1)
        for i, factor in enumerate(float(f) for f in args.rates.split(",")):
            around = [bench.rate(args.bracket_seconds)[0]] if args.bracket_seconds > 0 else []
            # 1x is the rate the core has just now: a VM that slowed since the start is not offered its old rate.
            if args.capacity == "server":
                now = asyncio.run(closed_loop(url, texts, k, busy, args.capacity_seconds, args.timeout, args.client))
            else:
                now = around[0] / k if around else cap
            before, cpu, wall = rss_mib(proc.pid), cpu_seconds(proc.pid), time.perf_counter()
            c0 = server_counts(url)
            loops0 = schedstat(proc.pid) + schedstat("self")
            loop0 = loop_cpu(proc.pid)
            phase = asyncio.run(open_loop(url, texts, k, factor * now, args.duration, args.max_requests,
                                          args.timeout, seed=i, kind=args.client, connections=args.connections))
            share = (cpu_seconds(proc.pid) - cpu) / (time.perf_counter() - wall)  # all the server's threads
            c1 = server_counts(url)
            n0, s0, b0, i0, m0, n1, s1, b1, i1, m1 = (c[name] for c in (c0, c1) for name in c)
            wall = time.perf_counter() - wall
            loops = [(b - a) / wall for a, b in zip(loops0, schedstat(proc.pid) + schedstat("self"))]
            phase.update(server_loop_run=loops[0], server_loop_wait=loops[1], client_loop_run=loops[2],
                         client_loop_wait=loops[3])
            phase["server_mean_ms"] = (s1 - s0) / (n1 - n0) * 1000 if n1 > n0 else math.nan
            on_loop = loop_cpu(proc.pid) - loop0
            phase.update(loop_cpu_share=on_loop / wall, model_cpu_share=share - on_loop / wall,
                         loop_cpu_us_per_request=on_loop / max(1, phase["sent"]) * 1e6,
                         mean_batch=(i1 - i0) / (b1 - b0) if b1 > b0 else math.nan,
                         model_inputs_per_s=(i1 - i0) / (m1 - m0) if m1 > m0 else math.nan,
                         inputs_per_cpu_s=(i1 - i0) / (share * wall) if share > 0 else math.nan)
            phase.update(factor=factor, one_x_rps=now, rss_before_mib=before, rss_after_mib=rss_mib(proc.pid),
                         server_cpu_share=share)
            if around:
                around.append(bench.rate(args.bracket_seconds)[0])
                phase["offline_around"] = around
            report["phases"].append(phase)
            print(json.dumps(phase), flush=True)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        report["server_5xx_other"] = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("seq2seq_requests_total") and 'status="5' in line
            and 'status="503"' not in line and 'status="504"' not in line)
        report["rss_end_mib"] = rss_mib(proc.pid)
        if not args.no_sigterm:
            rates = [ph["offered_rps"] for ph in report["phases"]] or [cap]
            report["sigterm"] = asyncio.run(sigterm_burst(proc, url, texts, k, max(rates), args.timeout,
                                                          args.connections, args.client))
            print("SIGTERM during a burst:", json.dumps(report["sigterm"]), flush=True)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            report["exit_status"] = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            report["exit_status"] = "killed"
    md = markdown(report, args)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("serve_load.json", json.dumps(report, indent=1)), ("serve_load.md", md + "\n")):
            tmp = args.out / (name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(args.out / name)


def reference(phase: dict, offline: float) -> float:
    """The offline rate a phase is compared with: the mean of the rates measured just before and after it (the
    machine's speed then), else the one measured at the start."""
    around = phase.get("offline_around")
    return sum(around) / len(around) if around else offline


def markdown(report: dict, args: argparse.Namespace) -> str:
    """The machine line, the load's description, the table of phases and the targets checked."""
    k, offline = report["inputs_per_request"], report["offline_inputs_per_s"]
    table = ["| load | offered req/s | sent req/s | 200/s | inputs/s (of offline) | admitted | p50 ms | p99 ms | "
             "503 | 504 | other | RSS before → after MiB | server CPU (loop / model) | loop µs a request | "
             "mean batch | inputs per server CPU-s (of offline) | inputs per model-call second (of offline) | "
             "offline just before / after | "
             "server mean ms | server loop run / wait | client loop run / wait |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: "
             "| ---: | ---: | ---: | --- | --- | --- |"]
    for ph in report["phases"]:
        other = sum(n for s, n in ph["statuses"].items() if s not in ("200", "503", "504")) + ph["unanswered"]
        table.append(f"| {ph['factor']:g}x | {ph['offered_rps']:.0f} | {ph['sent_rps']:.0f} | "
                     f"{ph['throughput_rps']:.0f} | {ph['throughput_inputs_per_s']:.0f} "
                     f"({ph['throughput_inputs_per_s'] / reference(ph, offline):.0%}) | {ph['admitted']:.1%} | "
                     f"{ph['p50_ms']:.0f} | "
                     f"{ph['p99_ms']:.0f} | {ph['share_503']:.1%} | {ph['share_504']:.1%} | {other} | "
                     f"{ph['rss_before_mib']:.0f} → {ph['rss_after_mib']:.0f} | {ph['server_cpu_share']:.0%} "
                     f"({ph['loop_cpu_share']:.0%} / {ph['model_cpu_share']:.0%}) | "
                     f"{ph['loop_cpu_us_per_request']:.0f} | {ph['mean_batch']:.1f} | {ph['inputs_per_cpu_s']:.0f} "
                     f"({ph['inputs_per_cpu_s'] / report['offline_inputs_per_cpu_s']:.0%}) | "
                     f"{ph.get('model_inputs_per_s', math.nan):.0f} "
                     f"({ph.get('model_inputs_per_s', math.nan) / reference(ph, offline):.0%}) | "
                     f"{' / '.join(f'{x:.0f}' for x in ph.get('offline_around', [])) or '–'} | "
                     f"{ph['server_mean_ms']:.0f} | {ph['server_loop_run']:.0%} / {ph['server_loop_wait']:.0%} | "
                     f"{ph['client_loop_run']:.0%} / {ph['client_loop_wait']:.0%} |")
    closed = report.get("closed_loop_rps")
    lines = [report["machine"],
             f"Python {report['python']}; {k} inputs a request; offline {offline:.0f} inputs/s "
             f"({report['offline_inputs_per_cpu_s']:.0f} per CPU second) = capacity "
             f"{report['capacity_rps']:.0f} requests/s"
             + (f"; closed loop ({args.concurrency} in flight) {closed:.0f} requests/s" if closed else "")
             + ("; 1x: the server's closed-loop rate measured just before each phase (two full batches in flight)"
                if report.get("capacity") == "server" else "; 1x: the offline rate measured just before each phase")
             + f"; client {report['client']}, {report['connections']} keep-alive connections, CPUs "
             f"{report['client_cpus']}; server CPU {args.server_cpu}; {report['duration_s']:g} s a phase; load "
             f"average at start {report.get('load_average', (math.nan,))[0]:.1f}; serve flags "
             f"`{' '.join(report['serve_args'])}`", "", *table, ""]
    phases = {ph["factor"]: ph for ph in report["phases"]}
    checks = []
    if 0.5 in phases and 3.0 in phases:
        low, high = phases[0.5], phases[3.0]
        checks.append(("3x: admitted p99 <= 3x the 0.5x p99", f"{high['p99_ms']:.0f} ms vs {low['p99_ms']:.0f} "
                       f"ms ({high['p99_ms'] / low['p99_ms']:.1f}x)", high["p99_ms"] <= 3 * low["p99_ms"]))
        other = sum(n for s, n in high["statuses"].items() if s not in ("200", "503", "504")) + high["unanswered"]
        checks.append(("3x: every request answered 200/503/504", f"{other} other", other == 0))
    if 3.0 in phases:
        high = phases[3.0]
        growth = (high["rss_after_mib"] - high["rss_before_mib"]) * 1.048576
        checks.append(("3x: RSS growth over the run <= 50 MB", f"{growth:+.0f} MB", growth <= 50))
    if "rss_end_mib" in report and report["phases"]:
        warm = report["phases"][0]["rss_before_mib"]
        growth = (report["rss_end_mib"] - warm) * 1.048576
        cold = (report["rss_end_mib"] - report["rss_start_mib"]) * 1.048576
        # Not a target: the first phase to form the largest batches of the longest inputs raises the peak
        # that the allocator keeps (seq2seq.kernels.allocator), whichever load it is.
        checks.append(("(for information) RSS growth over all open-loop phases", f"{growth:+.0f} MB (from before "
                       f"the first request, warm-up included: {cold:+.0f} MB)", None))
    checks.append(("no 5xx but 503/504 (server's count)", f"{report.get('server_5xx_other', math.nan):g}",
                   report.get("server_5xx_other") == 0))
    if 1.0 in phases:
        one = phases[1.0]
        checks.append(("1x: >= 90% admitted", f"{one['admitted']:.1%}", one["admitted"] >= 0.9))
        ratio = one["throughput_inputs_per_s"] / reference(one, offline)
        checks.append(("1x: throughput within 10% of the offline rate (measured around the phase)",
                       f"{ratio:.0%}", ratio >= 0.9))
    if "sigterm" in report:
        st = report["sigterm"]
        # a connection refused (the listening socket is closed) or reset (a kept connection closed at shutdown
        # before the server read the request on it) is a request the server never admitted
        bad = {s: n for s, n in st["statuses"].items()
               if s not in ("200", "503", "ConnectionRefusedError", "ConnectionResetError")}
        drain = 10.0
        if "--drain-seconds" in report["serve_args"]:
            drain = float(report["serve_args"][report["serve_args"].index("--drain-seconds") + 1])
        checks.append(("SIGTERM in a burst: 200 or 503, exit within drain + 1 s",
                       f"{st['statuses']}, exit {st['exit_status']} after {st['exit_after_s']:.2f} s",
                       not bad and not st["unanswered"] and st["exit_status"] == 0
                       and st["exit_after_s"] <= drain + 1))
    lines += ["| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {'–' if ok is None else 'yes' if ok else '**no**'} |"
              for name, value, ok in checks]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
