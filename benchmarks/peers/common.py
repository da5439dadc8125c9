"""What every system of the peers harness shares: paths, the tokenised corpus, running a pinned child, BLEU."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENVS = HERE / ".venvs"
MULTI30K = ROOT.parent / "shared" / "data" / "multi30k"
SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
MAX_LEN = 100
BIN = Path(sys.executable).parent  # our venv's scripts (ct2-opennmt-py-converter)

# An AVX2-only machine emulated on a wider one, for every library of every child: ATen, MKL and oneDNN in torch,
# CTranslate2's own kernels, OpenBLAS and NumPy's loops. onnxruntime has no such switch (its MLAS kernels pick
# the widest instructions the CPU has), so the ONNX rows of an emulated run are not restricted.
AVX2_EMULATION = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                  "CT2_FORCE_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell",
                  "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}


def sh(cmd: list[str], log: Path, threads: int, env: dict | None = None, pin: str | None = None,
       cwd: Path | None = None) -> float:
    """Run cmd pinned to the CPU list `pin` with `threads` intra-op threads, output to log; returns wall seconds.
    Raises RuntimeError with the log's last lines on failure."""
    e = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **(env or {}))
    if pin is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", pin] + cmd
    start = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=e, cwd=cwd).returncode
    if rc != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-8:])
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed ({rc}); see {log}:\n{tail}")
    return time.perf_counter() - start


def prepare(out: Path, corpus: Path = MULTI30K) -> Path:
    """Tokenise Multi30k (the folder `corpus`) once with our word tokenizer; every system reads these files."""
    sys.path.insert(0, str(ROOT / "src"))
    from seq2seq.data.tokenizers import build_tokenizer

    if not (corpus / "train.en.gz").is_file():
        raise SystemExit(f"{corpus}: Multi30k's train.en.gz is not there; pass --multi30k DIR")
    tok = build_tokenizer("word", word_split="punct", lowercase=True)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, stem in SPLITS.items():
        for lang in ("en", "de"):
            dest = data / f"{name}.{lang}"
            if dest.exists():
                continue
            lines = gzip.open(corpus / f"{stem}.{lang}.gz", "rt", encoding="utf-8").read().splitlines()
            tmp = dest.with_suffix(dest.suffix + ".tmp")
            tmp.write_text("".join(" ".join(tok.tokenize(x.strip())) + "\n" for x in lines), encoding="utf-8")
            tmp.replace(dest)
    return data


def bleu(hyp_file: Path, ref_file: Path) -> float:
    """Corpus BLEU of a hypothesis file against the reference file, both tokenised (sacrebleu, tokenize=none)."""
    import sacrebleu

    hyps = hyp_file.read_text(encoding="utf-8").splitlines()
    refs = ref_file.read_text(encoding="utf-8").splitlines()
    return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score


def mean_length(hyp_file: Path) -> float:
    """Mean output length in tokens: a barely trained model's outputs run long, and decoding speed follows."""
    lines = hyp_file.read_text(encoding="utf-8").splitlines()
    return sum(len(x.split()) for x in lines) / max(len(lines), 1)


def scores(greedy: Path, beam5: Path, reference: Path) -> dict:
    """BLEU and mean output length of the greedy and beam-5 hypothesis files."""
    return {"bleu_greedy": bleu(greedy, reference), "bleu_beam5": bleu(beam5, reference),
            "len_greedy": mean_length(greedy), "len_beam5": mean_length(beam5)}


def steady(values: list[float]) -> float:
    """Mean over logging intervals, the first (warm-up) left out when there are more."""
    return sum(values[1:]) / len(values[1:]) if len(values) > 1 else values[0]
