"""Built-in toy tasks generated deterministically from a seed: addition, date, reverse, copy, sort, names, and
the real-valued keras-example and sine. addition and date follow the data files of Saito, Deep Learning from
Scratch 2 (ch. 7-8)."""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Pair = tuple[str, str]


@dataclass(frozen=True)
class TaskSpec:
    """A built-in task: how to draw one pair, what makes two questions the same, and its defaults."""

    description: str
    draw: Callable[[random.Random], Pair]
    space: int  # number of distinct question keys, so impossible sizes are refused up front
    key: Callable[[str], Hashable] = lambda question: question
    book_widths: tuple[int, int] | None = None  # padded question / answer widths of the book's file
    # Config values the task implies (applied to keys left at their defaults), e.g. feature sides.
    config: dict[str, Any] = field(default_factory=dict)
    # Few distinct questions: each belongs to one split by a seeded hash and splits draw with replacement.
    holdout: float | None = None


def _operand(rng: random.Random) -> int:
    digits = rng.randint(1, 3)
    return rng.randint(0, 9) if digits == 1 else rng.randint(10 ** (digits - 1), 10 ** digits - 1)


def _draw_addition(rng: random.Random) -> Pair:
    a, b = _operand(rng), _operand(rng)
    return f"{a}+{b}", str(a + b)


def _addition_key(question: str) -> Hashable:
    # The book's file never holds both a+b and b+a, so questions are unique up to commutation.
    return frozenset(question.split("+"))


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The book's date.txt spans these days (inclusive).
FIRST_DATE, LAST_DATE = datetime.date(1970, 1, 1), datetime.date(2017, 7, 24)
# The four shapes of the book's questions, each a quarter of its lines.
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


# The Keras encoder-decoder example maps [1, 2, 3] to [2, 3, 4]: runs of consecutive integers, each shifted by one.
KERAS_STARTS, KERAS_LENGTHS = 50, (3, 8)


def _draw_keras(rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    start, length = rng.randrange(KERAS_STARTS), rng.randint(*KERAS_LENGTHS)
    source = np.arange(start, start + length, dtype=np.float32)[:, None]
    return source, source + 1


# Forecasting: a window of noisy sums of two sines -> the next values.
SINE_WINDOW, SINE_HORIZON, SINE_NOISE = 40, 10, 0.05


def _draw_sine(rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(SINE_WINDOW + SINE_HORIZON, dtype=np.float64)
    series = np.zeros_like(t)
    for _ in range(2):
        period, phase, amplitude = rng.uniform(8.0, 40.0), rng.uniform(0.0, 2 * math.pi), rng.uniform(0.3, 1.0)
        series += amplitude * np.sin(2 * math.pi * t / period + phase)
    series += np.array([rng.gauss(0.0, SINE_NOISE) for _ in t])
    series = series.astype(np.float32)[:, None]
    return series[:SINE_WINDOW], series[SINE_WINDOW:]


# Names and numbers to carry over (copy attention): pseudo-words of 2-3 syllables (over 100,000 of them, so a
# test sentence's names were almost never seen in training) in sentences whose frame words are few.
_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou") + ("an", "el", "in", "or", "us")
_NAME_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("pay {n} to {a} {b}", "{a} {b} gets {n}"),
    ("{a} {b} was born in {c}", "born in {c} : {a} {b}"),
    ("call {a} at {n}", "number of {a} is {n}"),
    ("{a} moved from {c} to {d}", "{a} left {c} for {d}"),
    ("send {n} books from {c} to {a}", "{a} in {c} gets {n} books"),
)


def _pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _draw_names(rng: random.Random) -> Pair:
    source, target = rng.choice(_NAME_TEMPLATES)
    slots = {"a": _pseudo_word(rng), "b": _pseudo_word(rng), "c": _pseudo_word(rng), "d": _pseudo_word(rng),
             "n": str(rng.randint(10, 99999))}
    return source.format(**slots), target.format(**slots)


def _array_key(question: Any) -> Hashable:
    return np.asarray(question).round(5).tobytes()


_FEATURES = {"data.source_type": "features", "data.target_type": "features"}
# What the keras example needs to learn in 20 epochs (valid MAE 0.148 with the general defaults): attention
# to find the value to shift, L1 (the targets are exact), a higher rate decaying linearly, smaller batches.
_KERAS_TRAINING = {"model.attention": "general", "train.feature_loss": "l1", "train.lr": 0.003,
                   "train.schedule": "linear", "train.batch_size": 32}

_SYMBOL_SPACE = sum(len(SYMBOLS) ** n for n in range(1, MAX_SYMBOLS + 1))
# Per day: one short question plus three worded shapes in three cases.
_DAYS = (LAST_DATE - FIRST_DATE).days + 1

TASKS: dict[str, TaskSpec] = {
    "addition": TaskSpec("Saito's ch. 7 addition: `16+75` -> `91`, operands of 1-3 digits", _draw_addition,
                         space=1000 * 1001 // 2, key=_addition_key, book_widths=(7, 4)),
    "date": TaskSpec("Saito's ch. 8 dates: `September 27, 1994`, `2/10/93`, ... -> `1994-09-27`", _draw_date,
                     space=_DAYS * (1 + 3 * 3), book_widths=(29, 10)),
    "reverse": TaskSpec(f"reverse a string of 1-{MAX_SYMBOLS} letters: `abc` -> `cba`",
                        _symbols(lambda s: s[::-1]), space=_SYMBOL_SPACE),
    "copy": TaskSpec(f"copy a string of 1-{MAX_SYMBOLS} letters: `abc` -> `abc`",
                     _symbols(lambda s: s), space=_SYMBOL_SPACE),
    "sort": TaskSpec(f"sort the letters of a string of 1-{MAX_SYMBOLS} letters: `cab` -> `abc`",
                     _symbols(lambda s: "".join(sorted(s))), space=_SYMBOL_SPACE),
    "names": TaskSpec("carry rare names and numbers over (copy attention), words: `pay 417 to Kalo Venmir` -> "
                      "`Kalo Venmir gets 417`", _draw_names, space=10 ** 12, config={"data.tokenizer": "word"}),
    "keras-example": TaskSpec(
        f"the Keras encoder-decoder example: {KERAS_LENGTHS[0]}-{KERAS_LENGTHS[1]} consecutive integers from 0-"
        f"{KERAS_STARTS - 1} -> each + 1 (`1 2 3` -> `2 3 4`), real-valued, MSE",
        _draw_keras, space=KERAS_STARTS * (KERAS_LENGTHS[1] - KERAS_LENGTHS[0] + 1), key=_array_key,
        holdout=0.1, config={**_FEATURES, **_KERAS_TRAINING, "data.train_size": 4000, "data.valid_size": 200,
                             "data.test_size": 200}),
    "sine": TaskSpec(
        f"forecast the next {SINE_HORIZON} values of a noisy sum of two sines from a window of {SINE_WINDOW}",
        _draw_sine, space=10 ** 12, key=_array_key,
        config={**_FEATURES, "data.target_length": SINE_HORIZON, "data.train_size": 4000, "data.valid_size": 300,
                "data.test_size": 300}),
}


def get_task(name: str) -> TaskSpec:
    """The task called name; unknown names raise ValueError listing the tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def task_defaults(name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A task's own config settings and the side types it cannot work without, or None for an unknown name
    (refused with the list of tasks when its data is generated)."""
    task = TASKS.get(name)
    if task is None:
        return None
    required = {key: task.config.get(key, "tokens") for key in ("data.source_type", "data.target_type")}
    return dict(task.config), required


def generate_splits(name: str, train_size: int, valid_size: int, test_size: int,
                    seed: int) -> dict[str, list[Pair]]:
    """Train/valid/test pairs with unique questions, so no question is in two splits; same seed, same data.

    Test is drawn first, then valid, then train, so a bigger train set leaves valid and test unchanged.
    """
    task = get_task(name)
    if task.holdout is not None:
        return _holdout_splits(task, train_size, valid_size, test_size, seed)
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


def _holdout_splits(task: TaskSpec, train_size: int, valid_size: int, test_size: int,
                    seed: int) -> dict[str, list[Pair]]:
    """For small question spaces: a seeded hash puts each distinct question in one split (a `holdout` share
    each for test and valid), and each split draws from its own questions with replacement, so any size
    works and no test question is ever trained on."""
    rng = random.Random(seed)
    splits: dict[str, list[Pair]] = {"train": [], "valid": [], "test": []}
    sizes = {"train": train_size, "valid": valid_size, "test": test_size}
    share = task.holdout or 0.0

    def split_of(key: Hashable) -> str:
        u = random.Random(f"{seed}:{key!r}").random()
        return "test" if u < share else "valid" if u < 2 * share else "train"

    tries = 0
    while any(len(splits[s]) < sizes[s] for s in splits):
        pair = task.draw(rng)
        split = split_of(task.key(pair[0]))
        if len(splits[split]) < sizes[split]:
            splits[split].append(pair)
        tries += 1
        if tries > 1000 * (train_size + valid_size + test_size + 1):
            raise ValueError("task question space too small for a held-out split; raise its holdout share")
    return splits


def to_book_line(name: str, pair: Pair) -> str:
    """The pair as a line of the book's fixed-width `question_answer` file (addition and date only)."""
    widths = get_task(name).book_widths
    if widths is None:
        raise ValueError(f"task {name!r} has no textbook format; only addition and date do")
    question, answer = pair
    if len(question) > widths[0] or len(answer) > widths[1]:
        raise ValueError(f"{pair!r} does not fit the {name} textbook widths {widths}")
    return f"{question:<{widths[0]}}_{answer:<{widths[1]}}"
