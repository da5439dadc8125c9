"""Running the app under uvicorn with a graceful shutdown: on SIGTERM or Ctrl-C stop accepting, let queued and
running work finish within --drain-seconds, answer the rest 503, and exit with status 0."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from ..config import DecodeConfig
from ..inference.load import load
from .app import create_app
from .auth import check_exposure
from .options import ServeOptions

log = logging.getLogger("seq2seq")
AFTER_DRAIN_SECONDS = 0.5  # for the last answers to go out once the batcher has drained


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose shutdown first drains the app's batcher; a signal that ends it is not raised
    again afterwards (uvicorn's default), so a drained server exits normally."""

    def __init__(self, config: uvicorn.Config, batcher: Any, drain_seconds: float):
        super().__init__(config)
        self.batcher = batcher
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: shut down gracefully; a second Ctrl-C: at once."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        """Stop accepting, drain the batcher (new requests on open connections get 503), then uvicorn's own."""
        for server in getattr(self, "servers", []):
            server.close()
        if not self.force_exit:
            log.info("shutting down: finishing queued work for up to %g s (--drain-seconds)", self.drain_seconds)
            drain = asyncio.ensure_future(self.batcher.drain(self.drain_seconds))
            while not drain.done() and not self.force_exit:  # a second Ctrl-C stops waiting
                await asyncio.wait({drain}, timeout=0.1)
            drain.cancel()
        await super().shutdown(sockets)


def run_server(app: Any, host: str, port: int, log_level: str, drain_seconds: float) -> None:
    """Serve `app` (made by create_app) until SIGTERM or Ctrl-C, then drain it and end the process (status 0);
    past its options' `max_connections` connections (or requests being handled) uvicorn answers 503 without
    calling the app."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug",
                            timeout_graceful_shutdown=AFTER_DRAIN_SECONDS,
                            limit_concurrency=app.state.options.max_connections)
    server = DrainingServer(config, app.state.batcher, drain_seconds)
    # What is alive now (torch, the model, the app: some 200,000 objects) lives as long as the process; frozen,
    # the cyclic collector stops walking it on every full collection, each of which stopped the event loop and
    # the model for about 90 ms and cost the loop a third of its time per request under load.
    gc.collect()
    gc.freeze()
    server.run()
    if server.should_exit and server.started:
        # Drained and every answer sent: the process ends here, as the drain deadline promised. The
        # interpreter's own teardown (torch's modules, a model call still running past the deadline) can take
        # seconds, and there is nothing left to write.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, options: ServeOptions | None = None,
          which: str = "best", log_level: str = "info",
          decode: Callable[[DecodeConfig, str], DecodeConfig] | None = None, engine: str = "auto",
          api_key: str | None = None, cors_origins: Sequence[str] = (), insecure_no_auth: bool = False) -> None:
    """Load the run's (or an exported) model on `engine` (see `seq2seq.load`) and serve it until SIGTERM or
    Ctrl-C, then drain and end the process with status 0; `decode(run's decode section, target type)` gives
    the server's decoding defaults (the command line's decoding flags). ValueError, before loading anything,
    for a non-loopback `host` without `api_key` unless `insecure_no_auth`."""
    check_exposure(host, api_key, insecure_no_auth)
    opts = options or ServeOptions()
    model = load(run_dir, which=which, engine=engine, threads=opts.threads)
    defaults = decode(model.config.decode, model.config.data.target_type) if decode is not None else None
    app = create_app(model, opts, run_dir, defaults, api_key=api_key, cors_origins=cors_origins)
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {run_dir} at http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)"
          + ("; every route but /health needs the API key" if api_key else ""), flush=True)
    run_server(app, host, port, log_level, opts.drain_seconds)
