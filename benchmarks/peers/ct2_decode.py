"""Decode one tokenised file with several CTranslate2 model directories by the same code, alternating.

    python benchmarks/peers/ct2_decode.py --source test.en --out DIR NAME=MODEL_DIR [NAME=MODEL_DIR ...]

The peers harness compares OpenNMT-py's Transformer converted by CTranslate2's own converter
(`ct2-opennmt-py-converter`) with our export of the same shape (`seq2seq export --format ctranslate2`): both
directories are read by `ctranslate2.Translator` (one thread), fed the same whitespace tokens, 64 sentences a
batch (`max_batch_size`, CTranslate2 sorting by length), greedy and beam 5, at most `--max-length` tokens, no
length penalty, an empty output allowed (the options of our ctranslate2 engine); the models alternate for
`--rounds` rounds and the median sentences/s is kept, so a busy core slows them alike. A directory written by
our exporter (it holds `export.json`) is fed the tokens our source side makes of each line, as `seq2seq.load`
feeds it. `--fixed-length N` adds greedy and beam-5 rounds in which every output is exactly N tokens long
(`min_decoding_length` = `max_decoding_length` = N): two models trained apart stop at different lengths, and
only equal work compares their speed. Writes DIR/NAME.{greedy,beam5}[_fixed].txt and prints one JSON line
{NAME: {greedy_sent_s, beam5_sent_s, greedy_rounds, beam5_rounds[, greedy_fixed_sent_s, ...], sentences}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def source_tokens(directory: Path, lines: list[str]) -> list[list[str]]:
    """The tokens CTranslate2 reads for `lines` on the model in `directory`: ours through our source side (the
    export's own vocabulary, `</s>` appended where our model was trained so), a foreign model the plain tokens."""
    if not (directory / "export.json").exists():
        return [line.split() for line in lines]
    sys.path.insert(0, str(ROOT / "src"))
    import seq2seq
    from seq2seq.ct2.options import source_tokens as ours

    model = seq2seq.load(directory, threads=1)
    return [ours(model.source, model.source.encode(line)) for line in lines]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="NAME=MODEL_DIR")
    p.add_argument("--source", required=True, help="tokenised source file, one sentence a line")
    p.add_argument("--out", required=True, help="folder for the hypotheses")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-length", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--fixed-length", type=int, default=0,
                   help="also decode with every output exactly this many tokens long (0: not)")
    args = p.parse_args()
    import ctranslate2

    lines = Path(args.source).read_text(encoding="utf-8").splitlines()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = dict(m.split("=", 1) for m in args.models)
    translators = {n: ctranslate2.Translator(d, device="cpu", inter_threads=1, intra_threads=1)
                   for n, d in models.items()}
    tokens = {n: source_tokens(Path(d), lines) for n, d in models.items()}
    result: dict = {n: {"sentences": len(lines)} for n in models}
    # Free decoding (each model stops where it emits </s>), then, with --fixed-length, every output exactly
    # that long (</s> barred before it, the search stopped at it): the same work for every model, whatever it
    # learned, so that two models' speeds compare their engines' work and not their output lengths.
    runs = [(s, b, 0, args.max_length) for s, b in (("greedy", 1), ("beam5", 5))]
    if args.fixed_length:
        runs += [(f"{s}_fixed", b, args.fixed_length, args.fixed_length) for s, b in (("greedy", 1), ("beam5", 5))]
    for strategy, beam, least, most in runs:
        speeds: dict[str, list[float]] = {n: [] for n in models}
        for _ in range(args.rounds):
            for name, translator in translators.items():
                start = time.perf_counter()
                hyps = translator.translate_batch(tokens[name], max_batch_size=args.batch, batch_type="examples",
                                                  beam_size=beam, max_decoding_length=most, length_penalty=0.0,
                                                  min_decoding_length=least, return_scores=False)
                speeds[name].append(len(lines) / (time.perf_counter() - start))
                (out / f"{name}.{strategy}.txt").write_text(
                    "".join(" ".join(h.hypotheses[0]) + "\n" for h in hyps), encoding="utf-8")
        for name in models:
            result[name][f"{strategy}_sent_s"] = statistics.median(speeds[name])
            result[name][f"{strategy}_rounds"] = speeds[name]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
