"""The `seq2seq` command: `main` parses the arguments and turns every expected failure into one line on stderr
and a non-zero exit status, never a traceback."""

from __future__ import annotations

import logging
import signal
import sys

from ..api import InputError
from ..audio import AudioError
from ..checkpoint import CheckpointError
from ..config import ConfigError
from ..data.datasets import DataError
from ..training import TrainingError, TrainingInterrupted
from .parser import build_parser

__all__ = ["build_parser", "main"]

# Refused before (or instead of) any work: a bad value, file, run directory or input.
USER_ERRORS = (ConfigError, DataError, CheckpointError, AudioError, InputError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success; 2 for a refused value, file or run directory; 1 when training fails (a
    non-finite loss); 128 + the signal's number when stopped by Ctrl-C or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        return 0
    except TrainingInterrupted as e:
        print(f"seq2seq: {e}", file=sys.stderr)
        return 128 + e.signum
    except TrainingError as e:
        print(f"seq2seq: error: {e}", file=sys.stderr)
        return 1
    except USER_ERRORS as e:
        print(f"seq2seq: error: {_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seq2seq: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _message(e: Exception) -> str:
    """The error's text; an OSError as `path: reason` rather than `[Errno N] reason: 'path'`."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e)
