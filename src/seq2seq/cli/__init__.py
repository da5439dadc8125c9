"""The `seq2seq` command: `main` parses the arguments and turns user errors into one line and exit status 2."""

from __future__ import annotations

import logging
import sys

from ..audio import AudioError
from ..rundir import CheckpointError
from ..config import ConfigError
from ..data.datasets import DataError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, CheckpointError, FileNotFoundError, AudioError) as e:
        print(f"seq2seq: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "torch":
            raise
        print(f"seq2seq: error: `seq2seq {args.command}` needs PyTorch: pip install 'seq2seq[torch]' (exported "
              f"models run without it: seq2seq translate/serve EXPORTED_DIR)", file=sys.stderr)
        return 2
