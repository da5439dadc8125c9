"""Text <-> token lists: char, word, Hangul jamo and sentencepiece tokenizers, saved as JSON (never pickle)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sentencepiece as spm

from .detokenize import readable

KINDS = ("char", "word", "jamo", "sentencepiece")
WORD_SPLITS = ("punct", "whitespace")
SP_TYPES = ("bpe", "unigram")
FORMAT_VERSION = 1


class Tokenizer:
    """Base class: splits text into string tokens and joins them back."""

    kind: str = ""

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        """Split text into tokens (lower-cased first when `lowercase`)."""
        return self._split(text.lower() if self.lowercase else text)

    def _split(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str:
        """Join tokens back into text."""
        raise NotImplementedError

    def readable(self, text: str) -> str:
        """`detokenize`'s output as text for people; the same text unless a tokenizer spaces it for
        metrics (`word` with `punct`)."""
        return text

    def fit(self, texts: Iterable[str]) -> None:
        """Learn from the training texts; only sentencepiece learns anything."""

    def to_json(self) -> dict[str, Any]:
        """What `load_tokenizer` needs to rebuild this tokenizer."""
        return {"kind": self.kind, "lowercase": self.lowercase, "version": FORMAT_VERSION}

    def _write_files(self, directory: Path, name: str) -> None:
        """Write files that live beside the JSON (only sentencepiece has one)."""


class CharTokenizer(Tokenizer):
    """One token per Unicode code point; spaces are tokens, so text round-trips exactly."""

    kind = "char"

    def _split(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        """Concatenate the characters."""
        return "".join(tokens)


_PUNCT = re.compile(r"\w+|[^\w\s]")


class WordTokenizer(Tokenizer):
    """Words. `whitespace`: split on runs of whitespace. `punct`: words (`\\w+`) and every other non-space
    character as its own token, so `"Hi, you!"` -> `Hi , you !`.

    Detokenising joins with single spaces, so it normalises: whitespace runs become one space, leading and
    trailing whitespace go, and with `punct` punctuation comes back space-separated (`Hi , you !`), the
    form metrics read; `readable` turns that into text for people (`Hi, you!`).
    """

    kind = "word"

    def __init__(self, word_split: str = "punct", lowercase: bool = False) -> None:
        super().__init__(lowercase)
        if word_split not in WORD_SPLITS:
            raise ValueError(f"unknown word_split {word_split!r}; allowed: {', '.join(WORD_SPLITS)}")
        self.word_split = word_split

    def _split(self, text: str) -> list[str]:
        return _PUNCT.findall(text) if self.word_split == "punct" else text.split()

    def detokenize(self, tokens: list[str]) -> str:
        """Join with single spaces."""
        return " ".join(tokens)

    def readable(self, text: str) -> str:
        """With `punct`: marks back onto their words (see `detokenize.readable`), and the first letter
        upper-cased if the text was lower-cased."""
        if self.word_split != "punct":
            return text
        return readable(text.split(), capitalise=self.lowercase)

    def to_json(self) -> dict[str, Any]:
        """Kind, lowercase and word_split."""
        return {**super().to_json(), "word_split": self.word_split}


_SYL_FIRST, _SYL_LAST = 0xAC00, 0xD7A3
_L0, _V0, _T0 = 0x1100, 0x1161, 0x11A7  # _T0 + 0 would mean "no final", so finals start at 0x11A8
_NL, _NV, _NT = 19, 21, 28
# Tokens for characters already in the conjoining-jamo block carry this prefix, so detokenize never
# mistakes them for the pieces of a decomposed syllable.
JAMO_ESCAPE = "\\"


def _is_l(t: str) -> bool:
    return len(t) == 1 and _L0 <= ord(t) < _L0 + _NL


def _is_v(t: str) -> bool:
    return len(t) == 1 and _V0 <= ord(t) < _V0 + _NV


def _is_t(t: str) -> bool:
    return len(t) == 1 and _T0 < ord(t) < _T0 + _NT


class JamoTokenizer(Tokenizer):
    """Hangul syllables become initial/medial/final conjoining jamo, one token each; other characters are
    char tokens. Characters already in the jamo block (U+1100..U+11FF) become escaped two-character
    tokens, so `detokenize(tokenize(s)) == s` for every string."""

    kind = "jamo"

    def _split(self, text: str) -> list[str]:
        out: list[str] = []
        for ch in text:
            code = ord(ch)
            if _SYL_FIRST <= code <= _SYL_LAST:
                lead_vowel, tail = divmod(code - _SYL_FIRST, _NT)
                lead, vowel = divmod(lead_vowel, _NV)
                out += [chr(_L0 + lead), chr(_V0 + vowel)] + ([chr(_T0 + tail)] if tail else [])
            elif 0x1100 <= code <= 0x11FF:
                out.append(JAMO_ESCAPE + ch)
            else:
                out.append(ch)
        return out

    def detokenize(self, tokens: list[str]) -> str:
        """Recompose initial+medial(+final) runs into syllables and unescape standalone jamo."""
        out: list[str] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if _is_l(tok) and i + 1 < len(tokens) and _is_v(tokens[i + 1]):
                index = ((ord(tok) - _L0) * _NV + ord(tokens[i + 1]) - _V0) * _NT
                i += 2
                if i < len(tokens) and _is_t(tokens[i]):
                    index += ord(tokens[i]) - _T0
                    i += 1
                out.append(chr(_SYL_FIRST + index))
                continue
            out.append(tok[1:] if len(tok) == 2 and tok[0] == JAMO_ESCAPE else tok)
            i += 1
        return "".join(out)


class SentencePieceTokenizer(Tokenizer):
    """Subword pieces from a sentencepiece model trained on the training texts.

    Normalisation is `identity` and extra whitespace is kept, so text round-trips exactly; characters
    never seen in training become `<unk>`.
    """

    kind = "sentencepiece"

    def __init__(self, sp_type: str = "bpe", sp_vocab_size: int = 8000, lowercase: bool = False,
                 model_proto: bytes | None = None) -> None:
        super().__init__(lowercase)
        if sp_type not in SP_TYPES:
            raise ValueError(f"unknown sentencepiece type {sp_type!r}; allowed: {', '.join(SP_TYPES)}")
        self.sp_type = sp_type
        self.sp_vocab_size = sp_vocab_size
        self._proto = model_proto
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto) if model_proto else None

    def fit(self, texts: Iterable[str]) -> None:
        """Train on texts (in memory; `save_tokenizer` writes the model file)."""
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=(t.lower() if self.lowercase else t for t in texts), model_writer=buffer,
            model_type=self.sp_type, vocab_size=self.sp_vocab_size,
            hard_vocab_limit=False,  # tiny corpora have fewer pieces than vocab_size
            character_coverage=1.0, normalization_rule_name="identity", remove_extra_whitespaces=False,
            minloglevel=2, num_threads=1)
        self._proto = buffer.getvalue()
        self._sp = spm.SentencePieceProcessor(model_proto=self._proto)

    def _processor(self) -> spm.SentencePieceProcessor:
        if self._sp is None:
            raise RuntimeError("sentencepiece tokenizer is not trained yet; call fit(texts, directory, name)")
        return self._sp

    def _split(self, text: str) -> list[str]:
        return self._processor().encode(text, out_type=str)

    def detokenize(self, tokens: list[str]) -> str:
        """Decode pieces back to text."""
        return self._processor().decode(list(tokens))

    def to_json(self) -> dict[str, Any]:
        """Kind, lowercase, model type and size; the model itself is the `.spm.model` file."""
        return {**super().to_json(), "sp_type": self.sp_type, "sp_vocab_size": self.sp_vocab_size}

    def _write_files(self, directory: Path, name: str) -> None:
        if self._proto is None:
            raise RuntimeError("cannot save an untrained sentencepiece tokenizer; call fit first")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.spm.model").write_bytes(self._proto)


def build_tokenizer(kind: str, *, word_split: str = "punct", lowercase: bool = False, sp_type: str = "bpe",
                    sp_vocab_size: int = 8000) -> Tokenizer:
    """A new tokenizer of the given kind (sentencepiece still needs `fit`)."""
    if kind == "char":
        return CharTokenizer(lowercase)
    if kind == "word":
        return WordTokenizer(word_split, lowercase)
    if kind == "jamo":
        return JamoTokenizer(lowercase)
    if kind == "sentencepiece":
        return SentencePieceTokenizer(sp_type, sp_vocab_size, lowercase)
    raise ValueError(f"unknown tokenizer {kind!r}; allowed: {', '.join(KINDS)}")


def save_tokenizer(tokenizer: Tokenizer, directory: Path, name: str) -> dict[str, Any]:
    """Write `{name}.tokenizer.json` (and `{name}.spm.model`) into directory; returns the JSON dict."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = tokenizer.to_json()
    tokenizer._write_files(directory, name)
    (directory / f"{name}.tokenizer.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data




def load_tokenizer(directory: Path, name: str) -> Tokenizer:
    """Rebuild the tokenizer saved by `save_tokenizer(tokenizer, directory, name)`."""
    path = Path(directory) / f"{name}.tokenizer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        kind = data["kind"]
        lowercase = bool(data.get("lowercase", False))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable tokenizer file: {e}") from None
    if not isinstance(data.get("version", 1), int) or data.get("version", 1) > FORMAT_VERSION:
        raise ValueError(f"{path}: tokenizer format version {data.get('version')!r} is newer than this "
                         f"seq2seq understands ({FORMAT_VERSION})")
    if kind == "sentencepiece":
        model = Path(directory) / f"{name}.spm.model"
        try:
            proto = model.read_bytes()
        except OSError as e:
            raise ValueError(f"{model}: cannot read sentencepiece model: {e}") from None
        return SentencePieceTokenizer(data.get("sp_type", "bpe"), data.get("sp_vocab_size", 8000), lowercase,
                                      model_proto=proto)
    try:
        return build_tokenizer(kind, word_split=data.get("word_split", "punct"), lowercase=lowercase)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
