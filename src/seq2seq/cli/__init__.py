"""The `seq2seq` command: `main` parses the arguments and turns every expected failure into one line on stderr
and a non-zero exit status, never a traceback."""

from __future__ import annotations

import logging
import signal
import sys

from ..config import ConfigError
from ..data.audio import AudioError
from ..data.datasets import DataError
from ..inference.translator import InputError
from ..runs.atomic import WriteRefused
from ..runs.checksums import ChecksumError
from ..runs.directory import CheckpointError
from ..runs.lock import RunLocked
from ..training.stopping import TrainingError, TrainingInterrupted
from .exit_codes import DAMAGED, REFUSED, RUN_LOCKED, SIGNALLED, TRAINING_FAILED, WRITE_REFUSED
from .parser import build_parser

__all__ = ["build_parser", "main"]

# Failures with an exit status of their own (the first that matches, in this order), printed as they are.
FAILURES = {TrainingError: TRAINING_FAILED, WriteRefused: WRITE_REFUSED, RunLocked: RUN_LOCKED, ChecksumError: DAMAGED}
# Refused before (or instead of) any work: a bad value, file, run directory or input.
USER_ERRORS = (ConfigError, DataError, CheckpointError, AudioError, InputError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success; 1 when training fails (a non-finite loss); 2 for a refused value, file or run
    directory; 3 when the OS refuses a write; 4 when another trainer holds the run; 5 for a damaged checkpoint
    file; 128 + the signal's number when stopped by Ctrl-C or SIGTERM (docs/guides/run-directory.md)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        return 0
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "torch":
            raise
        print(f"seq2seq: error: `seq2seq {args.command}` needs PyTorch: pip install 'seq2seq[torch]' (exported "
              f"models run without it: seq2seq translate/serve EXPORTED_DIR)", file=sys.stderr)
        return REFUSED
    except TrainingInterrupted as e:
        print(f"seq2seq: {e}", file=sys.stderr)
        return SIGNALLED + e.signum
    except tuple(FAILURES) as e:
        print(f"seq2seq: error: {e}", file=sys.stderr)
        return next(status for kind, status in FAILURES.items() if isinstance(e, kind))
    except USER_ERRORS as e:
        print(f"seq2seq: error: {_message(e)}", file=sys.stderr)
        return REFUSED
    except KeyboardInterrupt:
        print("seq2seq: interrupted", file=sys.stderr)
        return SIGNALLED + signal.SIGINT


def _message(e: Exception) -> str:
    """The error's text; an OSError as `path: reason` rather than `[Errno N] reason: 'path'`."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e)
