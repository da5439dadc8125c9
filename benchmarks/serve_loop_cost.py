"""The event loop's CPU per POST /v1/translate of `seq2seq serve`, in-process: the app (create_app) is called as
ASGI by a driver keeping `--concurrency` requests of `--inputs-per-request` inputs in flight, and the model's
translations are computed once and then served from a cache, so that what is timed (`time.thread_time()` of the
loop's thread, per request) is request handling alone: routing, middleware, body parsing and validation,
admission, batching, the answer's JSON. uvicorn's HTTP parsing is not in it (`serve_load.py` measures the whole).

    .venv/bin/python benchmarks/serve_loop_cost.py                            # runs/load-date (trained if missing)
    .venv/bin/python benchmarks/serve_loop_cost.py RUN --inputs FILE --no-freeze
    .venv/bin/python benchmarks/serve_loop_cost.py --against /tmp/old/src     # another tree, alternating processes

Like `seq2seq serve`, the objects alive once the app is built are frozen for the garbage collector (`--no-freeze`
leaves them to it, as servers before that change did). Each round is `--requests` requests; every round is
printed, since a full collection falling into one shows as a round apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
         "path": "/v1/translate", "raw_path": b"/v1/translate", "query_string": b"", "root_path": "",
         "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}


def measure(run: Path, texts: list[str], per_request: int, concurrency: int, requests: int, rounds: int,
            freeze: bool) -> list[float]:
    """Microseconds of the loop's thread CPU per request, one figure per round (this process's seq2seq)."""
    import gc

    import torch

    from seq2seq.inference.load import load
    from seq2seq.serve.app import create_app
    from seq2seq.serve.options import ServeOptions

    torch.set_num_threads(1)
    model = load(run, threads=1)
    real, done = model.translate, {}

    def cached(inputs, options=None, attention=False):
        for text in inputs:
            if text not in done:
                done[text] = real([text], options)[0]
        return [done[text] for text in inputs]

    model.translate = cached
    # A queue as long as the requests in flight: the driver measures handling, not refusals.
    app = create_app(model, ServeOptions(max_queue=max(64, concurrency * per_request)))
    bodies = [json.dumps({"inputs": [texts[(i * per_request + j) % len(texts)] for j in range(per_request)]})
              .encode() for i in range(max(1, len(texts) // per_request))]

    async def one(i: int) -> int:
        body, status, sent = bodies[i % len(bodies)], [], False

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await app({**SCOPE, "headers": headers}, receive, send)
        return status[0]

    async def go() -> list[float]:
        async with app.router.lifespan_context(app):
            slots = asyncio.Semaphore(concurrency)

            async def limited(i: int) -> int:
                async with slots:
                    return await one(i)

            await asyncio.gather(*(limited(i) for i in range(len(bodies))))  # every translation cached
            if freeze:
                gc.collect()
                gc.freeze()
            out = []
            for _ in range(rounds):
                start = time.thread_time()
                statuses = await asyncio.gather(*(limited(i) for i in range(requests)))
                out.append((time.thread_time() - start) / requests * 1e6)
                if set(statuses) != {200}:
                    raise SystemExit(f"answers other than 200: {sorted(set(statuses))}")
            return out

    return asyncio.run(go())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, nargs="?", default=Path("runs/load-date"),
                   help="run directory (trained, the date model, if it does not exist; default runs/load-date)")
    p.add_argument("--inputs", help="request texts, one per line (default: the run's task's test questions)")
    p.add_argument("--inputs-per-request", type=int, default=8)
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--requests", type=int, default=1200, help="requests a round (default 1200)")
    p.add_argument("--rounds", type=int, default=4, help="rounds in each process (default 4)")
    p.add_argument("--processes", type=int, default=2, help="processes for each tree, alternating (default 2)")
    p.add_argument("--no-freeze", action="store_true", help="leave the loaded objects to the garbage collector")
    p.add_argument("--against", help="another tree's src directory: both run as alternating child processes")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a child's answer to --against
    args = p.parse_args()

    from serve_load import ensure_run, inputs_of  # the load test's run and inputs

    if args.json:
        texts = inputs_of(args.run, args.inputs, 2000)
        print(json.dumps(measure(args.run, texts, args.inputs_per_request, args.concurrency, args.requests,
                                 args.rounds, not args.no_freeze)))
        return
    print_machine()
    ensure_run(args.run)
    here = str(Path(__file__).resolve().parents[1] / "src")
    trees = {"this tree": here, **({"--against": args.against} if args.against else {})}
    child = [sys.executable, __file__, str(args.run), "--json", "--rounds", str(args.rounds),
             "--requests", str(args.requests),
             "--inputs-per-request", str(args.inputs_per_request), "--concurrency", str(args.concurrency),
             *(["--inputs", args.inputs] if args.inputs else []), *(["--no-freeze"] if args.no_freeze else [])]
    rounds: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.processes):  # alternating processes: the machine's drift falls on both
        for name, src in trees.items():
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
            out = subprocess.run(child, env=env, capture_output=True, text=True, check=True).stdout
            rounds[name] += json.loads(out.strip().splitlines()[-1])
    print(f"event-loop CPU per request ({args.inputs_per_request} inputs, {args.concurrency} in flight, "
          f"{args.requests} requests a round, {'no freeze' if args.no_freeze else 'frozen'}), µs:")
    for name, values in rounds.items():
        print(f"  {name}: median {statistics.median(values):.0f}  rounds " + " ".join(f"{v:.0f}" for v in values))
    if args.against:
        a, b = (statistics.median(rounds[name]) for name in trees)
        print(f"  this tree / --against: {a / b:.2f}x")


if __name__ == "__main__":
    main()
