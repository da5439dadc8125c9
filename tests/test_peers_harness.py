"""The peers harness's pieces that need no peer installed: the report's targets, ratios and the warning for a
training rate above the core's matmul peak; ct2_decode.py decoding our CTranslate2 export as the ctranslate2
engine does (the code that times OpenNMT-py's converted model must see our export as `seq2seq.load` feeds it)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parents[1] / "benchmarks" / "peers"


def _module(name: str):
    sys.path.insert(0, str(PEERS))  # the harness's modules import each other by name
    try:
        spec = importlib.util.spec_from_file_location(f"peers_{name}", PEERS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PEERS))


def _row(train=None, greedy=None, beam=None, **extra):
    row = {"params": 7.0e6, "bleu_greedy": 10.0, "bleu_beam5": 11.0, **extra}
    for key, value in (("train_tgt_tok_s", train), ("greedy_sent_s", greedy), ("beam5_sent_s", beam)):
        if value is not None:
            row[key] = value
    return row


def test_targets_take_the_fastest_candidate_and_say_met_or_not():
    report = _module("report")
    rows = {"ours-128x2": _row(2000, 400, 100), "opennmt": _row(1000, 300, 100),
            "ours-onnx": _row(2000, 700, 120), "ours-onnx-int8": _row(2000, 1200, 200)}
    lines = report.targets(rows)
    by_what = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert "| 2.00x | ours-128x2 | 1.5x | met |" in by_what["#26 training ours-128x2 / OpenNMT-py"]
    assert "| 2.33x | ours-onnx | 2.0x | met |" in by_what["#26 greedy, fastest fp32 engine / OpenNMT-py"]
    assert "| 1.20x | ours-onnx | 1.5x | **NOT met** |" in by_what["#26 beam-5, fastest fp32 engine / OpenNMT-py"]
    assert "| 4.00x | ours-onnx-int8 | 3.0x | met |" in by_what["#29 fastest engine / OpenNMT-py, greedy"]
    assert "| 1.71x | ours-onnx-int8 | 1.5x | met |" in by_what["#29 ONNX int8 / ONNX fp32, greedy"]
    assert not any(what.startswith("Transformer") or "CT2" in what for what in by_what)  # rows absent: no line


def test_the_converter_target_compares_the_rows_decoded_by_the_same_code():
    report = _module("report")
    # free decoding: ours faster (its outputs are shorter); every output 30 tokens: the same work, compared
    rows = {"opennmt-transformer-ct2": _row(greedy=100, beam=50, greedy_fixed_sent_s=40.0, beam5_fixed_sent_s=20.0),
            "ours-transformer-ct2-direct": _row(greedy=300, beam=150, greedy_fixed_sent_s=38.4,
                                                beam5_fixed_sent_s=18.0)}
    lines = "\n".join(report.targets(rows))
    assert "| #29 our CT2 export / OpenNMT-py converted, fp32 greedy | 0.96x | ours-transformer-ct2-direct | 0.95x " \
           "| met |" in lines
    assert "fp32 beam-5 | 0.90x | ours-transformer-ct2-direct | 0.95x | **NOT met** |" in lines
    assert "ours-transformer-ct2-direct / opennmt-transformer-ct2: greedy 3.00x, beam-5 3.00x (every output 30 " \
           "tokens: greedy 0.96x, beam-5 0.90x)" in "\n".join(report.ratios(rows))


def test_a_training_rate_above_the_matmul_peak_is_flagged_and_peers_are_counted_by_our_shape():
    report = _module("report")
    ours = _row(1000, 1, 1, flop_per_tgt_token=2e7, train_gflop_per_step=15.0, matmul_peak_gflops=50.0)
    rows = {"ours-128x2": ours, "opennmt": _row(3000, 1, 1), "ours-onnx": _row(1000, 2, 2)}
    text = "\n".join(report.table(rows))
    assert "| ours-128x2 | 7.00M | 1,000 | 15.00 | 20.0 (40%) |" in text
    assert "| opennmt | 7.00M | 3,000 | ≈15.00 | ≈60.0 (120%) |" in text  # 2e7 FLOP x 3,000 tok/s > 50 GFLOP/s
    assert "| ours-onnx | 7.00M | 1,000 | – | – |" in text  # an exported row trained nothing of its own
    assert "**Above the core's matmul peak: opennmt**" in text


def test_ct2_decode_feeds_our_export_as_the_ctranslate2_engine(tiny_bundle, tmp_path, monkeypatch, capsys):
    pytest.importorskip("ctranslate2")
    from seq2seq.config import DecodeConfig
    from seq2seq.ct2.convert import export_ctranslate2
    from seq2seq.ct2.model import load_converted

    texts = ["abc", "hello", "j", "abcdefghijabc", "gfedcba", "aaaa", "x"]
    out = export_ctranslate2(tiny_bundle("transformer-tiny"), tmp_path / "ct2")
    (tmp_path / "src.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["ct2_decode.py", "--source", str(tmp_path / "src.txt"), "--out",
                                      str(tmp_path / "hyps"), "--rounds", "1", "--max-length", "20",
                                      "--fixed-length", "20", f"ours={out}"])
    _module("ct2_decode").main()
    speeds = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert speeds["ours"]["sentences"] == len(texts) and speeds["ours"]["greedy_sent_s"] > 0
    model = load_converted(out, threads=1)
    for name, options in (("greedy", DecodeConfig(strategy="greedy", max_length=20)),
                          ("beam5", DecodeConfig(strategy="beam", beam_size=5, max_length=20))):
        expected = [[model.target.vocab.tokens[i] for i in h[0].output if model.target.vocab.tokens[i] != "</s>"]
                    for h in model.generate([model.source.encode(t) for t in texts], options)]
        got = [line.split(" ") if line else [] for line in
               (tmp_path / "hyps" / f"ours.{name}.txt").read_text(encoding="utf-8").splitlines()]
        assert got == expected
    fixed = (tmp_path / "hyps" / "ours.greedy_fixed.txt").read_text(encoding="utf-8").splitlines()
    assert [len(line.split(" ")) for line in fixed] == [20] * len(texts)  # --fixed-length: every output 20 long


def test_the_torchrun_row_says_one_process_against_two():
    report = _module("report")
    rows = {"ours-128x2-torchrun": _row(1500, procs1_tgt_tok_s=1000.0, procs2_tgt_tok_s=1500.0)}
    assert "1 process of 1 thread 1,000 tgt tok/s, 2 torchrun processes of 1 thread 1,500 (1.50x)" in \
        "\n".join(report.ratios(rows))
