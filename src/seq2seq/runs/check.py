"""`seq2seq check RUN`: the state of a run directory, one line per checkpoint (verified against its SHA256SUMS,
damaged, or without checksums), the links, leftovers of interrupted writes, metrics.jsonl and whether a
trainer holds the run now. Reads only, takes no lock: a run may be checked while it trains."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .checksums import SUMS_FILE, ChecksumError, read_sums, verify_checkpoint
from .directory import MODEL_JSON, CheckpointError
from .lock import describe, live_holder

LINKS = ("last", "best")


@dataclass
class Report:
    """What `check` found: its lines, and whether anything is damaged."""

    lines: list[str] = field(default_factory=list)
    damaged: int = 0

    def add(self, line: str, damaged: bool = False) -> None:
        """One line of the report; `damaged` counts it as a fault."""
        self.lines.append(line)
        self.damaged += damaged


def _checkpoint_state(directory: Path) -> tuple[str, bool]:
    """(`ok, N files verified` | `DAMAGED: ...` | `not verified: ...`, damaged?) of one checkpoint folder."""
    try:
        verified = verify_checkpoint(directory, cached=False)
    except ChecksumError as e:
        if not directory.exists():
            return "removed while checked (a trainer rotated it away)", False
        return f"DAMAGED: {e}", True
    if not verified:
        return "not verified: no SHA256SUMS (written by an earlier seq2seq); it loads as before", False
    return f"ok, {len(read_sums(directory) or {})} files verified", False


def _links(ckpt_root: Path) -> dict[str, list[str]]:
    """Folder name -> the links (last, best) that name it."""
    named: dict[str, list[str]] = {}
    for link in LINKS:
        path = ckpt_root / link
        if path.is_symlink():
            named.setdefault(Path(str(path.readlink())).name, []).append(link)
    return named


def _metrics(run: Path, report: Report) -> None:
    path = run / "metrics.jsonl"
    if not path.is_file():
        report.add("metrics.jsonl: none")
        return
    steps = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError, TypeError):
            report.add(f"metrics.jsonl:{number}: not an evaluation record (a resume drops it)")
    order = "in order" if steps == sorted(set(steps)) else "OUT OF ORDER or repeated"
    span = f", steps {steps[0]}..{steps[-1]} {order}" if steps else ""
    report.add(f"metrics.jsonl: {len(steps)} evaluations{span}")


def check_run(run_dir: str | Path) -> Report:
    """Check every checkpoint of a run directory (CheckpointError when it is no run directory)."""
    run = Path(run_dir)
    ckpt_root = run / "checkpoints"
    if not run.is_dir():
        raise CheckpointError(f"{run}: no such run directory")
    if not ckpt_root.is_dir() and not (run / "config.yaml").is_file():
        raise CheckpointError(f"{run}: not a run directory (no checkpoints/, no config.yaml); pass the DIR given to "
                              f"`seq2seq train --out DIR`")
    report = Report()
    note = live_holder(run)
    trainer = f"training now ({describe(note)})" if note else "no trainer holds it"
    report.add(f"{run}: {trainer}")
    named = _links(ckpt_root) if ckpt_root.is_dir() else {}
    folders = sorted(p for p in ckpt_root.iterdir() if p.is_dir() and not p.is_symlink()) if ckpt_root.is_dir() else []
    for link in LINKS:
        path = ckpt_root / link
        if path.is_symlink() and not path.exists():
            report.add(f"{link} -> {path.readlink()}: dangling link (the folder is gone)", damaged=True)
    checkpoints = 0
    for folder in folders:
        if folder.name.startswith(".tmp-"):
            report.add(f"{folder.name}: leftover of an interrupted checkpoint write (safe to remove)")
            continue
        if not (folder / MODEL_JSON).exists() and not (folder / SUMS_FILE).exists():
            continue
        checkpoints += 1
        state, damaged = _checkpoint_state(folder)
        links = f" <- {', '.join(named[folder.name])}" if folder.name in named else ""
        report.add(f"{folder.name}{links}: {state}", damaged=damaged)
    if not checkpoints:
        report.add("no checkpoint yet (`seq2seq train --out RUN --resume` starts it from the beginning)")
    _metrics(run, report)
    report.add(f"{checkpoints} checkpoint(s), " + (f"{report.damaged} damaged" if report.damaged else "none damaged"))
    return report
