"""Readable text from word tokens: the `punct` word tokenizer splits every mark off (`a man's t-shirt .` ->
`a man ' s t - shirt .`); people should read `A man's t-shirt.`."""

from __future__ import annotations

import re
from functools import cache

_WORD = re.compile(r"\w+")
# Marks that join two words when they stand between them: t-shirt, and/or. The tokenizer keeps no spaces,
# and in real text these marks sit inside words far more often than between them (Multi30k training:
# 1,243 word-hyphen-word against 6 spaced dashes in English).
_INNER = {"-", "/"}
# An apostrophe joins only before a clitic (man's, don't); otherwise (the welders' mask, a 'sign') the
# Moses rules place it.
_APOSTROPHES = {"'", "’"}
_CLITICS = {"s", "t", "re", "ve", "ll", "d", "m"}


@cache
def _moses(lang: str):  # type: ignore[no-untyped-def]
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang=lang)


def join_inner_marks(tokens: list[str]) -> list[str]:
    """Glue each hyphen or slash standing between two word tokens, and each apostrophe between a word and
    a clitic, to both neighbours."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        inner = tokens[i] in _INNER and _WORD.match(after) or tokens[i] in _APOSTROPHES and after.lower() in _CLITICS
        if inner and out and _WORD.fullmatch(out[-1][-1:]):
            out[-1] += tokens[i] + tokens[i + 1]
            i += 2
            continue
        out.append(tokens[i])
        i += 1
    return out


def readable(tokens: list[str], capitalise: bool = False, lang: str = "en") -> str:
    """Word tokens as text for people: marks inside words glued back, the rest spaced by the Moses
    detokenizer's rules (sacremoses: punctuation onto the word before, quotes and brackets paired);
    `capitalise` upper-cases the first letter (for a tokenizer that lower-cased the text)."""
    text = _moses(lang).detokenize(join_inner_marks(tokens))
    if capitalise:
        first = next((i for i, ch in enumerate(text) if ch.isalpha()), None)
        if first is not None:
            text = text[:first] + text[first].upper() + text[first + 1:]
    return text
