"""What verifying a checkpoint's SHA-256 adds to loading it: a large model written once, then loaded with and
without verification in alternating rounds (one process, the file in the page cache as on a second load).

    .venv/bin/python benchmarks/checkpoint_hashing.py [--size 512] [--layers 6] [--vocab 32000] [--rounds 5]

Prints the machine, the checkpoint's size, medians of: hashing every file, `load_bundle` without verification,
with it (nothing cached), and with it again in a new process (the cache file remembering the files), and the
ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints
from seq2seq import build_config
from seq2seq.data.sides import TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import Vocab
from seq2seq.runs import checksums
from seq2seq.runs.bundle import assemble, load_bundle
from seq2seq.runs.checkpoint import write_checkpoint


def main() -> None:
    """Write one large checkpoint, then time hashing and loading it."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512, help="model.transformer_size")
    p.add_argument("--layers", type=int, default=6, help="encoder and decoder layers")
    p.add_argument("--vocab", type=int, default=32000, help="entries of each side's vocabulary")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    print_machine()
    torch.set_num_threads(1)
    cfg = build_config("transformer", None, [f"model.transformer_size={a.size}", f"model.embedding_size={a.size}",
                                             f"model.transformer_ff_size={4 * a.size}",
                                             f"model.encoder_layers={a.layers}", f"model.decoder_layers={a.layers}"])
    words = [[f"w{i}" for i in range(a.vocab - 4)]]
    side = TokenSide(build_tokenizer("word"), Vocab.build(words))
    bundle = assemble(cfg, side, side)
    with tempfile.TemporaryDirectory(prefix="seq2seq-hash-") as tmp:
        run = Path(tmp)
        ckpt = write_checkpoint(run, 1, bundle.save_into, ("last", "best"))
        size = sum(f.stat().st_size for f in ckpt.iterdir())
        del bundle
        times: dict[str, list[float]] = {"hash": [], "load": [], "load+verify": [], "load+cached": []}
        os.environ["SEQ2SEQ_CACHE_DIR"] = str(run / "cache")
        sums, hidden = ckpt / checksums.SUMS_FILE, run / "sums.hidden"
        for _ in range(a.rounds):
            for name in ("load", "load+verify", "load+cached", "hash"):
                checksums.forget()  # as a new process: only the cache file is remembered
                if name in ("load", "load+verify"):
                    checksums.cache_file().unlink(missing_ok=True)
                if name == "load":  # without SHA256SUMS a checkpoint loads unverified, as an older one does
                    sums.rename(hidden)
                start = time.perf_counter()
                if name == "hash":
                    for f in ckpt.iterdir():
                        checksums.file_sha256(f)
                else:
                    load_bundle(run)
                elapsed = time.perf_counter() - start
                if name == "load":
                    hidden.rename(sums)
                times[name].append(elapsed)
        med = {k: statistics.median(v) for k, v in times.items()}
        params = sum(x.numel() for x in load_bundle(run).model.parameters())
    print(f"{platform.system()} {platform.release()}, one thread; medians of {a.rounds} alternating rounds")
    print(f"checkpoint: {params:,} parameters, {size / 1e6:.1f} MB on disk")
    print(f"hash every file (SHA-256): {med['hash']:.3f} s ({size / 1e6 / med['hash']:.0f} MB/s)")
    print(f"load_bundle without verification: {med['load']:.3f} s")
    print(f"load_bundle with verification (nothing cached): {med['load+verify']:.3f} s "
          f"({med['load+verify'] / med['load']:.2f}x)")
    print(f"load_bundle again in a new process (the versions found whole remembered): {med['load+cached']:.3f} s "
          f"({med['load+cached'] / med['load']:.2f}x)")


if __name__ == "__main__":
    main()
