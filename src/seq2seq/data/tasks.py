"""Built-in toy tasks generated deterministically from a seed: addition, date, reverse, copy, sort."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass

Pair = tuple[str, str]


@dataclass(frozen=True)
class TaskSpec:
    """A built-in task: how to draw one pair, what makes two questions the same, and its defaults."""

    description: str
    draw: Callable[[random.Random], Pair]
    space: int  # number of distinct question keys, so impossible sizes are refused up front
    key: Callable[[str], Hashable] = lambda question: question
    tokenizer: str = "char"
    format: str = "tsv"
    book_widths: tuple[int, int] | None = None  # padded question / answer widths of the textbook file


def _operand(rng: random.Random) -> int:
    digits = rng.randint(1, 3)
    return rng.randint(0, 9) if digits == 1 else rng.randint(10 ** (digits - 1), 10 ** digits - 1)


def _draw_addition(rng: random.Random) -> Pair:
    a, b = _operand(rng), _operand(rng)
    return f"{a}+{b}", str(a + b)


def _addition_key(question: str) -> Hashable:
    # The textbook file never holds both a+b and b+a, so questions are unique up to commutation.
    return frozenset(question.split("+"))


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The textbook's date.txt spans these days (inclusive).
FIRST_DATE, LAST_DATE = datetime.date(1970, 1, 1), datetime.date(2017, 7, 24)
# The four shapes of the textbook's questions, each a quarter of its lines.
DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "short": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "medium": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    "long": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "full": lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
}
# Worded questions come title-cased half the time, lower- and upper-cased a quarter each, as in the book.
DATE_CASES: tuple[Callable[[str], str], ...] = (str, str, str.lower, str.upper)


def _draw_date(rng: random.Random) -> Pair:
    day = FIRST_DATE + datetime.timedelta(days=rng.randint(0, (LAST_DATE - FIRST_DATE).days))
    shape = rng.choice(list(DATE_FORMATS))
    question = DATE_FORMATS[shape](day)
    if shape != "short":
        question = rng.choice(DATE_CASES)(question)
    return question, day.isoformat()


SYMBOLS = "abcdefghijklmnopqrstuvwxyz"
MAX_SYMBOLS = 10


def _symbols(transform: Callable[[str], str]) -> Callable[[random.Random], Pair]:
    def draw(rng: random.Random) -> Pair:
        text = "".join(rng.choice(SYMBOLS) for _ in range(rng.randint(1, MAX_SYMBOLS)))
        return text, transform(text)
    return draw


_SYMBOL_SPACE = sum(len(SYMBOLS) ** n for n in range(1, MAX_SYMBOLS + 1))
# Per day: one short question plus three worded shapes in three cases.
_DAYS = (LAST_DATE - FIRST_DATE).days + 1

TASKS: dict[str, TaskSpec] = {
    "addition": TaskSpec("textbook addition: `16+75` -> `91`, operands of 1-3 digits", _draw_addition,
                         space=1000 * 1001 // 2, key=_addition_key, format="book", book_widths=(7, 4)),
    "date": TaskSpec("textbook dates: `September 27, 1994`, `2/10/93`, ... -> `1994-09-27`", _draw_date,
                     space=_DAYS * (1 + 3 * 3), format="book", book_widths=(29, 10)),
    "reverse": TaskSpec(f"reverse a string of 1-{MAX_SYMBOLS} letters: `abc` -> `cba`",
                        _symbols(lambda s: s[::-1]), space=_SYMBOL_SPACE),
    "copy": TaskSpec(f"copy a string of 1-{MAX_SYMBOLS} letters: `abc` -> `abc`",
                     _symbols(lambda s: s), space=_SYMBOL_SPACE),
    "sort": TaskSpec(f"sort the letters of a string of 1-{MAX_SYMBOLS} letters: `cab` -> `abc`",
                     _symbols(lambda s: "".join(sorted(s))), space=_SYMBOL_SPACE),
}


def get_task(name: str) -> TaskSpec:
    """The task called name; unknown names raise ValueError listing the tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def generate_splits(name: str, train_size: int, valid_size: int, test_size: int,
                    seed: int) -> dict[str, list[Pair]]:
    """Train/valid/test pairs with unique questions, so no question is in two splits; same seed, same data.

    Test is drawn first, then valid, then train, so a bigger train set leaves valid and test unchanged.
    """
    task = get_task(name)
    total = train_size + valid_size + test_size
    if total > task.space:
        raise ValueError(f"task {name!r} has only {task.space} distinct questions; {total} were asked for")
    rng = random.Random(seed)
    seen: set[Hashable] = set()
    splits: dict[str, list[Pair]] = {}
    for split, size in (("test", test_size), ("valid", valid_size), ("train", train_size)):
        pairs: list[Pair] = []
        while len(pairs) < size:
            pair = task.draw(rng)
            key = task.key(pair[0])
            if key not in seen:
                seen.add(key)
                pairs.append(pair)
        splits[split] = pairs
    return {split: splits[split] for split in ("train", "valid", "test")}


def to_book_line(name: str, pair: Pair) -> str:
    """The pair as a line of the textbook's fixed-width `question_answer` file (addition and date only)."""
    widths = get_task(name).book_widths
    if widths is None:
        raise ValueError(f"task {name!r} has no textbook format; only addition and date do")
    question, answer = pair
    if len(question) > widths[0] or len(answer) > widths[1]:
        raise ValueError(f"{pair!r} does not fit the {name} textbook widths {widths}")
    return f"{question:<{widths[0]}}_{answer:<{widths[1]}}"
