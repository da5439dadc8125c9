"""Decoding options for one call: the run's `decode` section with a caller's overrides, validated once."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from seq2seq.config import ConfigError, DecodeConfig, check_decode
from seq2seq.config.schema import section_value

# Short names the command line, the API and HTTP requests use, beside DecodeConfig's own field names.
ALIASES = {"alpha": "length_penalty"}


def decode_options(base: DecodeConfig, target_type: str = "tokens", **overrides: Any) -> DecodeConfig:
    """`base` with the given fields replaced (None = keep the base value), checked like a config.

    Besides DecodeConfig's fields: `beam=K` means beam search of width K (K = 1: greedy), `sample=True`
    means sampling, `alpha` is the length penalty. Refusals are ConfigErrors naming the `decode.` key.
    """
    given = {ALIASES.get(k, k): v for k, v in overrides.items() if v is not None}
    beam, sampled = given.pop("beam", None), given.pop("sample", None)
    if sampled and beam is not None and beam != 1:
        raise ConfigError(f"sampling and beam search exclude each other: drop the sample option or set beam=1 "
                          f"(got beam={beam})")
    if sampled:
        given["strategy"] = "sample"
    elif beam is not None:
        given.setdefault("beam_size", beam)
        given["strategy"] = "beam" if section_value(DecodeConfig, "decode", "beam_size", beam) > 1 else "greedy"
    elif sampled is False and base.strategy == "sample":
        given.setdefault("strategy", "greedy")
    if given.get("strategy") == "greedy":
        given.setdefault("nbest", 1)  # greedy finds one output: a run's nbest > 1 does not carry over
    fields = {name: section_value(DecodeConfig, "decode", name, value) for name, value in given.items()}
    return check_decode(dataclasses.replace(base, **fields), target_type)


def with_seed(options: DecodeConfig) -> DecodeConfig:
    """`options` with a freshly drawn decode.seed when they sample without one (so that unseeded sampling differs
    from run to run, and the seed drawn can be shown to repeat it)."""
    if options.strategy != "sample" or options.seed is not None:
        return options
    return dataclasses.replace(options, seed=random.SystemRandom().randrange(2**31))
