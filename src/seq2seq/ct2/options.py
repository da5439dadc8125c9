"""What the CTranslate2 converter and engine share: the format's name, the weight types, and how a source
reaches CTranslate2 (as its tokens, which CTranslate2 maps to ids through the registered vocabulary)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FORMAT = "seq2seq-ctranslate2"
FORMAT_VERSION = 1
# The weight types CTranslate2 converts to that run on a CPU (float16 and bfloat16 need a GPU's kernels).
QUANTIZATIONS = ("float32", "int8", "int8_float32", "int16")


def source_tokens(side: Any, ids: Sequence[int]) -> list[str]:
    """Encoded source ids -> the tokens CTranslate2 reads (the vocabulary's own strings, so an id our side
    mapped to <unk> stays <unk>)."""
    tokens = side.vocab.tokens
    return [tokens[i] for i in ids]
