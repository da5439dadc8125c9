"""A vocabulary shortlist for CTranslate2 (its `vmap`): per source word, the target words seen most often in
the same training pairs, plus the most frequent target words for every sentence; decoding then scores only
the union of a batch's candidates in the output layer (after Jean et al. 2015, "On Using Very Large Target
Vocabulary for Neural Machine Translation", whose candidate lists also come from co-occurrence).

The file has one line per source word: the word, a tab, its candidates separated by spaces; the line with an
empty word lists the candidates of every sentence (CTranslate2 adds <unk>, <s> and </s> itself). A vocabulary
whose tokens hold spaces or tabs (a character model's space token) cannot be written so and is refused.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

COMMON = 100  # the most frequent target words, candidates for every sentence


def unwritable(tokens: Iterable[str]) -> str | None:
    """The first token the vmap format cannot hold (one with whitespace, or empty), or None."""
    for token in tokens:
        if not token or any(c.isspace() for c in token):
            return token
    return None


def build_vmap(pairs: Iterable[tuple[list[str], list[str]]], per_word: int, common: int = COMMON) -> str:
    """The vmap text of (source tokens, target tokens) training pairs: each source word's `per_word` most
    frequent companions in the targets, and the `common` most frequent target words under the empty key."""
    together: dict[str, Counter[str]] = defaultdict(Counter)
    frequency: Counter[str] = Counter()
    for source, target in pairs:
        words = list(dict.fromkeys(target))  # in order: ties rank by first appearance, the same every run
        frequency.update(target)
        for word in dict.fromkeys(source):
            together[word].update(words)
    lines = ["\t" + " ".join(t for t, _ in frequency.most_common(common))]
    for word in sorted(together):
        lines.append(word + "\t" + " ".join(t for t, _ in together[word].most_common(per_word)))
    return "\n".join(lines) + "\n"
