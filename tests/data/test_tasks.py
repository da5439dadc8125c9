"""Built-in tasks: textbook shapes, every date format, disjoint and deterministic splits."""

import datetime
import re
from pathlib import Path

import numpy as np
import pytest

from seq2seq.data.datasets import read_pairs
from seq2seq.data.tasks import TASKS, generate_splits, get_task, task_defaults, to_book_line

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "book"  # the first 300 lines of the textbook files
BOOK = ROOT.parent / "shared" / "data" / "book"  # the whole files, beside the repository
ADDITION_LINE = re.compile(r"^\d{1,3}\+\d{1,3} *_\d{1,4} *$")
MONTH = "(january|february|march|april|may|june|july|august|september|october|november|december)"
MON = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
DAY = "(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
DATE_SHAPES = {
    "short": r"\d{1,2}/\d{1,2}/\d\d", "medium": rf"{MON} \d{{1,2}}, \d{{4}}", "long": rf"{MONTH} \d{{1,2}}, \d{{4}}",
    "full": rf"{DAY}, {MONTH} \d{{1,2}}, \d{{4}}",
}


def _case(text):
    return "lower" if text.islower() else "upper" if text.isupper() else "title" if text.istitle() else "other"


def test_addition_matches_the_textbook_shape():
    splits = generate_splits("addition", 2000, 200, 100, seed=1)
    for question, answer in splits["train"]:
        a, b = map(int, question.split("+"))
        assert int(answer) == a + b
        line = to_book_line("addition", (question, answer))
        assert ADDITION_LINE.match(line)
        q, a_ = line.split("_")
        assert (len(q), len("_" + a_)) == (7, 5)
    digits = {(len(q.split("+")[0]), len(q.split("+")[1])) for q, _ in splits["train"]}
    assert digits == {(i, j) for i in (1, 2, 3) for j in (1, 2, 3)}


def test_addition_questions_unique_up_to_commutation():
    pairs = [p for split in generate_splits("addition", 3000, 0, 0, seed=3).values() for p in split]
    keys = [frozenset(q.split("+")) for q, _ in pairs]
    assert len(set(keys)) == len(keys)


def test_date_targets_and_every_format():
    pairs = generate_splits("date", 3000, 0, 0, seed=2)["train"]
    seen = set()
    for question, answer in pairs:
        day = datetime.date.fromisoformat(answer)
        assert datetime.date(1970, 1, 1) <= day <= datetime.date(2017, 7, 24)
        shape = next(s for s, rx in DATE_SHAPES.items() if re.fullmatch(rx, question, re.IGNORECASE))
        if shape == "short":
            assert question == f"{day.month}/{day.day}/{day.year % 100:02d}"
        else:
            assert question.lower().endswith(f" {day.day}, {day.year}")
        if shape == "full":
            assert question.split(",")[0].lower() == day.strftime("%A").lower()
        seen.add((shape, "-" if shape == "short" else _case(question)))
        line = to_book_line("date", (question, answer))
        assert len(line) == 40 and line.index("_") == 29
    assert seen == {("short", "-")} | {(s, c) for s in ("medium", "long", "full") for c in ("lower", "upper", "title")}


def _shape(q):
    return next(s for s, rx in DATE_SHAPES.items() if re.fullmatch(rx, q, re.IGNORECASE)), _case(q)


def test_every_textbook_date_shape_is_generated():
    book = {_shape(q) for q, _ in read_pairs(FIXTURE / "date.txt").pairs}
    ours = {_shape(q) for q, _ in generate_splits("date", 2000, 0, 0, seed=0)["train"]}
    assert book == ours


def test_every_date_shape_of_the_whole_textbook_file_is_generated():
    if not BOOK.is_dir():
        pytest.skip(f"the whole textbook files are not at {BOOK} (tests/fixtures/book holds their first lines)")
    book = {_shape(q) for q, _ in read_pairs(BOOK / "date.txt").pairs}
    ours = {_shape(q) for q, _ in generate_splits("date", 2000, 0, 0, seed=0)["train"]}
    assert book == ours


def test_book_lines_reproduce_the_textbook_files():
    for name in ("addition", "date"):
        lines = (FIXTURE / f"{name}.txt").read_text().splitlines()
        pairs = read_pairs(FIXTURE / f"{name}.txt").pairs
        assert [to_book_line(name, p) for p in pairs] == lines


@pytest.mark.parametrize("name,check", [
    ("reverse", lambda q, a: a == q[::-1]), ("copy", lambda q, a: a == q),
    ("sort", lambda q, a: a == "".join(sorted(q))),
])
def test_symbol_tasks(name, check):
    pairs = generate_splits(name, 500, 50, 50, seed=0)["train"]
    assert all(check(q, a) and re.fullmatch("[a-z]{1,10}", q) for q, a in pairs)
    assert len({len(q) for q, _ in pairs}) > 5


@pytest.mark.parametrize("name", sorted(n for n, t in TASKS.items() if t.config.get("data.source_type") != "features"))
def test_splits_disjoint_deterministic_and_sized(name):
    splits = generate_splits(name, 1000, 200, 100, seed=7)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1000, "valid": 200, "test": 100}
    questions = [{q for q, _ in splits[k]} for k in ("train", "valid", "test")]
    assert sum(map(len, questions)) == 1300 and not (questions[0] & questions[1] or questions[0] & questions[2]
                                                      or questions[1] & questions[2])
    assert generate_splits(name, 1000, 200, 100, seed=7) == splits
    assert generate_splits(name, 1000, 200, 100, seed=8) != splits
    bigger = generate_splits(name, 2000, 200, 100, seed=7)
    assert bigger["valid"] == splits["valid"] and bigger["test"] == splits["test"]
    assert all(q == q.strip() and a == a.strip() for q, a in splits["train"])


def test_book_lines_read_back(tmp_path):
    splits = generate_splits("addition", 50, 0, 0, seed=0)
    f = tmp_path / "addition.txt"
    f.write_text("".join(to_book_line("addition", p) + "\n" for p in splits["train"]))
    assert read_pairs(f).pairs == splits["train"]


def test_errors():
    with pytest.raises(ValueError, match="'nope'.*addition, date"):
        generate_splits("nope", 1, 1, 1, seed=0)
    with pytest.raises(ValueError, match="no textbook format"):
        to_book_line("reverse", ("ab", "ba"))
    with pytest.raises(ValueError, match="distinct questions"):
        generate_splits("addition", 500_000, 1000, 0, seed=0)


@pytest.mark.parametrize("name", ["keras-example", "sine"])
def test_feature_task_splits_held_out_deterministic_and_sized(name):
    splits = generate_splits(name, 1000, 200, 100, seed=7)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1000, "valid": 200, "test": 100}
    keys = [{s.tobytes() for s, _ in splits[k]} for k in ("train", "valid", "test")]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    same = lambda a, b: all(np.array_equal(x, y) for p, q in zip(a, b) for x, y in zip(p, q))  # noqa: E731
    assert same(generate_splits(name, 1000, 200, 100, seed=7)["train"], splits["train"])
    assert not same(generate_splits(name, 1000, 200, 100, seed=8)["train"], splits["train"])
    bigger = generate_splits(name, 2000, 200, 100, seed=7)
    assert same(bigger["valid"], splits["valid"]) and same(bigger["test"], splits["test"])
    source, target = splits["train"][0]
    assert source.dtype == np.float32 and source.ndim == 2 and target.ndim == 2
    if name == "keras-example":
        assert all(np.array_equal(t, s + 1) and np.all(np.diff(s[:, 0]) == 1) for s, t in splits["train"])
    else:
        assert source.shape == (40, 1) and target.shape == (10, 1)


def test_task_defaults_and_required_side_types():
    assert task_defaults("nope") is None
    assert task_defaults("addition") == ({}, {"data.source_type": "tokens", "data.target_type": "tokens"})
    own, required = task_defaults("sine")
    assert own["data.target_length"] == 10 and own["data.source_type"] == "features"
    assert required == {"data.source_type": "features", "data.target_type": "features"}
    own["data.target_length"] = 1  # a copy: the task's own settings are not changed
    assert task_defaults("sine")[0]["data.target_length"] == 10
    assert get_task("date") is TASKS["date"]
    with pytest.raises(ValueError, match="unknown task 'nope'; tasks: addition, date"):
        get_task("nope")
