"""The documentation: the site builds with --strict, the README stays a front page, and every shell or
Python example marked runnable runs as written (docs/contributing.md: "Examples that run")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"<!-- (?:(?P<run>runnable)(?:: needs (?P<needs>[^>]*?))?|not-run: (?P<reason>[^>]*?)) -->\s*$")
LANGUAGES = {"sh": "shell", "bash": "shell", "shell": "shell", "python": "python", "py": "python"}


@dataclass
class Example:
    """One fenced shell or Python block of a page."""

    page: Path
    line: int
    language: str
    code: str
    mark: str | None  # "runnable", "not-run" or None (unmarked)
    reason: str  # why a not-run example is not run
    needs: list[str]  # programs a runnable example needs beyond the package (skipped, saying so, without them)


def examples(page: Path) -> list[Example]:
    """The shell and Python blocks of `page`, each with the marker on the line before its fence."""
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        language = LANGUAGES.get(m.group(1).lower())
        if language is None:
            continue
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        kind = None if mark is None else "runnable" if mark.group("run") else "not-run"
        needs = (mark.group("needs") or "").replace(",", " ").split() if mark else []
        found.append(Example(page, text[:m.start()].count("\n") + 1, language, m.group(2), kind,
                             (mark and mark.group("reason")) or "", needs))
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_example_is_marked_runnable_or_says_why_not():
    unmarked = [f"{_name(e.page)}:{e.line}" for p in PAGES for e in examples(p) if e.mark is None]
    assert not unmarked, f"shell/Python examples without <!-- runnable --> or <!-- not-run: reason -->: {unmarked}"
    bare = [f"{_name(e.page)}:{e.line}" for p in PAGES for e in examples(p)
            if e.mark == "not-run" and len(e.reason.strip()) < 10]
    assert not bare, f"not-run markers need a reason: {bare}"


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make demo" in text and "make test" in text
    for page in ("quickstart.md", "tutorials/textbook.md", "tutorials/translation.md", "performance.md"):
        assert f"docs/{page}" in text, page


def test_the_quick_start_and_first_tutorial_exist_in_korean_with_the_same_commands():
    for page in ("quickstart.md", "tutorials/textbook.md"):
        english = [e.code for e in examples(ROOT / "docs" / page) if e.mark == "runnable"]
        korean = [e.code for e in examples(ROOT / "docs" / "ko" / page) if e.mark == "runnable"]
        assert english and korean == english, page


def _one_core() -> None:
    """Run an example on one core, as `train.threads=0` then means one thread: two threads of a small model
    on a machine busy with other work spend their time waiting for each other."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


RUNNABLE = [p for p in PAGES if any(e.mark == "runnable" for e in examples(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=_name)
def test_runnable_examples_run(page, tmp_path):
    """A page's runnable blocks run in order in one empty directory, as a reader would type them."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    runnable = [e for e in examples(page) if e.mark == "runnable"]
    missing = sorted({n for e in runnable for n in e.needs if shutil.which(n) is None})
    if missing:
        pytest.skip(f"{_name(page)}: its examples need {', '.join(missing)}, which is not installed")
    for e in runnable:
        if e.language == "shell":
            cmd = ["bash", "-euo", "pipefail", "-c", e.code]
        else:
            cmd = [sys.executable, "-c", e.code]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
                              preexec_fn=_one_core)
        assert done.returncode == 0, (f"{_name(page)}:{e.line} exited {done.returncode}\n--- stdout\n"
                                      f"{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]'; the dev extra includes it)")
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert (tmp_path / "site" / "reference" / "cli.html").is_file()


def test_the_changelog_has_an_entry_for_the_package_version():
    from importlib.metadata import version

    declared = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)[1]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(declared)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M), declared
    assert "## [Unreleased]" in changelog
    assert version("seq2seq") == declared  # the installed metadata, which seq2seq.__version__ reads
