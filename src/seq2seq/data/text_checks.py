"""What a text must not hold, wherever it comes from (a data file, a `translate` input line, an API call, an HTTP
request): one check, so that every boundary refuses the same things with the same words."""

from __future__ import annotations

import re

# A NUL byte marks a binary file (or a UTF-16 one read as UTF-8); a lone surrogate is no character at all and
# cannot be written back as UTF-8. Either would become a vocabulary token silently.
_BAD = re.compile(r"[\x00\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be used (naming the 1-based column), or None when it can."""
    found = _BAD.search(text)
    if found is None:
        return None
    column = found.start() + 1
    if found.group() == "\x00":
        return f"NUL byte at column {column} (a binary or UTF-16 file?)"
    return f"lone surrogate U+{ord(found.group()):04X} at column {column} (not valid Unicode)"
