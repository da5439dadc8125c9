"""The limits, batching, admission and shutdown settings of `seq2seq serve` (each one a command-line option)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeOptions:
    """Limits and batching of the server (each one a `seq2seq serve` option)."""

    max_inputs: int = 64
    max_input_chars: int = 1000
    max_body_bytes: int = 1_000_000
    max_beam: int = 16
    max_nbest: int | None = None  # None: the same as max_beam
    max_output_length: int = 1000
    batch_wait_ms: float = 5.0
    max_batch: int = 64
    threads: int = 1  # the engine's intra-op threads; more rarely helps small RNNs and competes with the event loop
    max_queue: int | None = None  # inputs waiting; None: max_queue_ms of work at the measured rate
    max_queue_ms: float = 250.0  # the automatic queue bound, in milliseconds of work at the measured rate
    max_connections: int = 1000  # open connections plus requests being handled (uvicorn's limit_concurrency)
    request_timeout: float = 30.0  # seconds from a request's arrival to its answer (504 after)
    drain_seconds: float = 10.0  # on SIGTERM, how long queued and running work may still finish

    def __post_init__(self) -> None:
        if self.max_nbest is None:
            self.max_nbest = self.max_beam
        for name in ("max_inputs", "max_input_chars", "max_body_bytes", "max_beam", "max_nbest",
                     "max_output_length", "max_batch", "threads", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_queue is not None and self.max_queue < self.max_inputs:
            raise ValueError(f"--max-queue must be at least --max-inputs ({self.max_inputs}), got {self.max_queue}")
        if not 0 < self.max_queue_ms < float("inf"):  # also refuses NaN
            raise ValueError(f"--max-queue-ms must be > 0 and finite, got {self.max_queue_ms}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"--batch-wait-ms must be >= 0, got {self.batch_wait_ms}")
        if not self.request_timeout > 0:  # also refuses NaN
            raise ValueError(f"--request-timeout must be > 0 seconds, got {self.request_timeout}")
        if not self.drain_seconds >= 0:
            raise ValueError(f"--drain-seconds must be >= 0, got {self.drain_seconds}")
