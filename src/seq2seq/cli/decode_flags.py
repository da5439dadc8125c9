"""The decoding flags of `eval`, `translate` and `serve`: each overrides one key of the run's decode section."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import ConfigError
from ..config.layering import split_override
from ..config.overrides import decode_options
from ..config.schema import DecodeConfig

# flag dest -> the keyword `decode_options` takes
FLAGS = {"beam": "beam", "nbest": "nbest", "sample": "sample", "temperature": "temperature", "top_k": "top_k",
         "top_p": "top_p", "seed": "seed", "alpha": "alpha", "min_length": "min_length",
         "max_length": "max_length", "batch_size": "batch_size"}


def add_decode_flags(p: argparse.ArgumentParser) -> None:
    """The flags; each defaults to the run's decode section (shown by `seq2seq config`)."""
    g = p.add_argument_group("decoding (defaults: the run's decode section)")
    g.add_argument("--beam", type=int, help="beam search of this width (1 = greedy)")
    g.add_argument("--nbest", type=int, help="outputs per input (beam: <= --beam; with --sample: draws)")
    g.add_argument("--sample", action="store_true", default=None, help="sample instead of searching")
    g.add_argument("--temperature", type=float, help="sampling temperature")
    g.add_argument("--top-k", type=int, help="sample from the k most likely tokens (0 = all)")
    g.add_argument("--top-p", type=float, help="nucleus sampling mass")
    g.add_argument("--seed", type=int, help="sampling seed")
    g.add_argument("--alpha", type=float, help="length penalty (GNMT alpha) of beam search")
    g.add_argument("--min-length", type=int, help="tokens before </s> is allowed")
    g.add_argument("--max-length", type=int, help="absolute cap on output steps")
    g.add_argument("--batch-size", type=int, help="inputs decoded at once")
    g.add_argument("--set", action="append", metavar="decode.KEY=VALUE", help="any decode key; repeatable")


def decode_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on the command line (and `--set decode.KEY=VALUE`), as `decode_options` keywords."""
    given: dict[str, Any] = {}
    for item in args.set or []:
        key, value = split_override(item)
        section, _, name = key.partition(".")
        if section != "decode" or name not in DecodeConfig.__dataclass_fields__:
            raise ConfigError(f"--set {item!r}: only decode.* keys can change here "
                              f"({', '.join('decode.' + n for n in DecodeConfig.__dataclass_fields__)})")
        given[name] = value
    given.update({kw: getattr(args, dest) for dest, kw in FLAGS.items() if getattr(args, dest) is not None})
    return given


def options_from(args: argparse.Namespace, base: DecodeConfig, target_type: str) -> DecodeConfig:
    """The run's decode section with the command line's overrides, checked."""
    return decode_options(base, target_type, **decode_overrides(args))
