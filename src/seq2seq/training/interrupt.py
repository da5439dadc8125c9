"""Stopping a training run cleanly on Ctrl-C (SIGINT) or SIGTERM: the step under way finishes, a checkpoint is
written, and the command says how to resume; a second signal stops at once."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While active (a `with` block on the main thread), SIGINT and SIGTERM are noted in `received` instead of
    interrupting; the loop checks it between steps. A second signal raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _note(self, signum: int, _: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> StopSignals:
        # Handlers can only be set on the main thread; elsewhere (a training thread of an application) the
        # signals keep their usual effect.
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
