"""Bundles: config + model + sides saved into a checkpoint directory and loaded back; format 1 runs upgraded."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import seq2seq
from seq2seq import build_config
from seq2seq.data.corpus import build_sides
from seq2seq.data.tasks import generate_splits
from seq2seq.runs.bundle import Bundle, assemble, load_bundle, upgrade_v1
from seq2seq.runs.checkpoint import CHECKPOINT_VERSION, CheckpointError, write_checkpoint
from seq2seq.runs.checksums import SUMS_FILE, ChecksumError, write_sums

V1 = Path(__file__).resolve().parent / "fixtures" / "v1"
TINY = {"model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16}


def _bundle(overrides, task="reverse", seed=0) -> Bundle:
    cfg = build_config(overrides={"data.task": task, **TINY, **overrides})
    source, target = build_sides(cfg, generate_splits(task, 60, 5, 0, 1)["train"])
    torch.manual_seed(seed)
    return assemble(cfg, source, target)


def _save_run(bundle: Bundle, run: Path, step: int = 5) -> Path:
    write_checkpoint(run, step, lambda d: bundle.save_into(d, {"step": step, "epoch": 1}), ("last", "best"))
    return run


def _outputs(bundle: Bundle, raw_sources, raw_targets):
    src, lengths = bundle.source.pad([bundle.source.encode(s) for s in raw_sources])
    tgt_in, _, _ = bundle.target.pad_target([bundle.target.encode(t) for t in raw_targets])
    bundle.model.eval()
    with torch.no_grad():
        return bundle.model(src, lengths, tgt_in).scores


@pytest.mark.parametrize("overrides", [
    {"model.attention": "general", "model.tie_embeddings": True, "model.attention_output": "tanh",
     "model.input_feeding": True},
    {"model.feed_context": "peeky", "data.reverse_source": True, "model.cell": "gru"},
])
def test_token_bundle_round_trip_gives_identical_outputs(tmp_path, overrides):
    bundle = _bundle(overrides)
    run = _save_run(bundle, tmp_path / "run")
    meta = json.loads((run / "checkpoints" / "best" / "model.json").read_text())
    assert meta["format_version"] == CHECKPOINT_VERSION == 2
    assert (meta["source_size"], meta["target_size"]) == (bundle.source.size, bundle.target.size)
    assert meta["parameters"] == sum(p.numel() for p in bundle.model.parameters())
    assert meta["step"] == 5 and meta["config"] == bundle.config.to_dict()
    loaded = load_bundle(run)
    assert loaded.config.to_dict() == bundle.config.to_dict()
    assert loaded.source.vocab == bundle.source.vocab and loaded.target.vocab == bundle.target.vocab
    assert loaded.source.reversal == bundle.source.reversal
    assert not loaded.model.training
    for (name, a), b in zip(bundle.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), name
    sources, targets = ["abc", "zz", "hello"], ["cba", "zz", "olleh"]
    assert torch.equal(_outputs(bundle, sources, targets), _outputs(loaded, sources, targets))
    a = seq2seq.Model(bundle).translate(sources, beam=3, nbest=2)
    b = seq2seq.load(run).translate(sources, beam=3, nbest=2)
    assert [[(h.text, h.score) for h in hs] for hs in a] == [[(h.text, h.score) for h in hs] for hs in b]


def test_feature_bundle_round_trip_keeps_the_normalisation(tmp_path):
    bundle = _bundle({"model.stop_flag": True, "model.attention": "general"}, task="keras-example")
    run = _save_run(bundle, tmp_path / "run")
    files = {p.name for p in (run / "checkpoints" / "best").iterdir()}
    assert {"source.features.json", "source.features.safetensors", "target.features.json",
            "target.features.safetensors"} <= files
    loaded = load_bundle(run)
    assert np.array_equal(loaded.source.mean, bundle.source.mean)
    assert np.array_equal(loaded.target.std, bundle.target.std)
    sources = [np.arange(3.0).reshape(3, 1), np.arange(5.0, 10.0).reshape(5, 1)]
    targets = [s + 1 for s in sources]
    assert torch.equal(_outputs(bundle, sources, targets), _outputs(loaded, sources, targets))
    a = seq2seq.Model(bundle).predict(sources)
    b = seq2seq.load(run).predict(sources)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_upgrade_v1_renames_format_1_weights():
    t = {name: torch.tensor([float(i)]) for i, name in enumerate([
        "encoder.embed.weight", "decoder.embed.weight", "decoder.embed.bias", "decoder.out.weight",
        "decoder.out.bias", "decoder.out_bias", "decoder.tie_proj.weight", "decoder.combine.weight", "start",
        "decoder.rnn.layers.0.weight_ih_l0", "bridge.hidden_proj.weight", "decoder.attention.key_proj.weight"])}
    up = upgrade_v1(t)
    assert list(up) == ["encoder.input.weight", "decoder.head.input.weight", "decoder.head.input.bias",
                        "decoder.head.output.weight", "decoder.head.output.bias", "decoder.head.output_bias",
                        "decoder.head.tie_proj.weight", "decoder.attentional_output.combine.weight",
                        "decoder.head.start_vector", "decoder.rnn.layers.0.weight_ih_l0",
                        "bridge.hidden_proj.weight", "decoder.attention.key_proj.weight"]
    assert all(a is b for a, b in zip(t.values(), up.values()))  # the tensors themselves are kept
    # only whole names or whole prefixes are renamed
    assert list(upgrade_v1({"starts": torch.ones(1), "decoder.outer.weight": torch.ones(1)})) == [
        "starts", "decoder.outer.weight"]


def test_format_1_weights_match_todays_modules():
    for kind in ("tokens", "features"):
        bundle = load_bundle(V1 / kind)
        stored = upgrade_v1(load_file(str(V1 / kind / "checkpoints" / "best" / "model.safetensors")))
        assert set(stored) == set(bundle.model.state_dict())
        for name, value in stored.items():
            assert torch.equal(bundle.model.state_dict()[name], value), name


def test_format_1_runs_reproduce_what_the_old_seq2seq_gave():
    expected = json.loads((V1 / "expected.json").read_text())
    tokens = seq2seq.load(V1 / "tokens")
    assert tokens.config.preset == "luong" and tokens.config.model.tie_embeddings
    assert [h[0].text for h in tokens.translate(expected["inputs"])] == expected["greedy"]
    beam = tokens.translate(expected["inputs"], beam=3, nbest=2)
    assert [[[h.text, round(h.score, 5)] for h in hs] for hs in beam] == expected["beam3_nbest2"]
    features = seq2seq.load(V1 / "features")
    out = features.predict(expected["vector_inputs"])
    # To float32 rounding: today's linear layers may sum the same products in another order (oneDNN's kernel).
    for got, want in zip(out, expected["vector_outputs"], strict=True):
        assert np.allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_a_newer_format_version_is_refused(tmp_path):
    run = _save_run(_bundle({}), tmp_path / "run")
    meta_path = run / "checkpoints" / "best" / "model.json"
    meta = json.loads(meta_path.read_text())
    for version in (99, CHECKPOINT_VERSION + 1, "2", None):
        meta["format_version"] = version
        meta_path.write_text(json.dumps(meta))
        write_sums(meta_path.parent)  # an edit recorded as the checkpoint's own (else it is refused as damaged)
        with pytest.raises(CheckpointError, match=rf"model.json: checkpoint format version {version!r} is newer"):
            load_bundle(run)


def _copy_run(src: Path, dst: Path, edit=None) -> Path:
    """A copy of a run directory, its best checkpoint's model.json changed by `edit(meta)` if given."""
    shutil.copytree(src, dst, symlinks=True)
    if edit is not None:
        meta_path = dst / "checkpoints" / "best" / "model.json"
        meta = json.loads(meta_path.read_text())
        edit(meta)
        meta_path.write_text(json.dumps(meta))
        write_sums(meta_path.parent)  # recorded as the checkpoint's own: what is refused is the edit, not a hash
    return dst


def test_bad_run_directories_are_named(tmp_path):
    run_dir = _save_run(_bundle({}), tmp_path / "good")
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_bundle(tmp_path)
    run = _copy_run(run_dir, tmp_path / "truncated")
    weights = run / "checkpoints" / "best" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ChecksumError, match=r"step-000000005/model.safetensors: damaged: its SHA-256"):
        load_bundle(run)
    (weights.parent / SUMS_FILE).unlink()  # a checkpoint of an earlier seq2seq: no checksums, still refused
    with pytest.raises(CheckpointError, match=r"step-000000005/model.safetensors: corrupted or truncated"):
        load_bundle(run)
    run = _copy_run(run_dir, tmp_path / "vocab")
    vocab = run / "checkpoints" / "best" / "target.vocab.json"
    data = json.loads(vocab.read_text())
    data["tokens"].append("extra")
    vocab.write_text(json.dumps(data))
    write_sums(vocab.parent)
    with pytest.raises(CheckpointError, match="the target side has .* the vocabulary does not match the weights"):
        load_bundle(run)
    run = _copy_run(run_dir, tmp_path / "newer", lambda meta: meta.update(format_version=99))
    with pytest.raises(CheckpointError, match=r"model.json: checkpoint format version 99 is newer"):
        load_bundle(run)
    run = _copy_run(run_dir, tmp_path / "config", lambda meta: meta["config"]["model"].update(cell="transformer"))
    with pytest.raises(CheckpointError, match=r"model.json: invalid config \(model.cell: bad value"):
        load_bundle(run)
    run = _copy_run(run_dir, tmp_path / "arch", lambda meta: meta["config"]["model"].update(embedding_size=12))
    with pytest.raises(CheckpointError, match=r"tensor '[a-z.]+input.weight' has shape \(\d+, 8\) but the config in "
                                              r"model.json builds \(\d+, 12\): the config was changed"):
        load_bundle(run)


def test_the_old_size_keys_are_still_read(tmp_path):
    run = _save_run(_bundle({}), tmp_path / "run")
    meta_path = run / "checkpoints" / "best" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["source_vocab_size"], meta["target_vocab_size"] = meta.pop("source_size"), meta.pop("target_size")
    meta_path.write_text(json.dumps(meta))
    write_sums(meta_path.parent)
    assert load_bundle(run).source.size == meta["source_vocab_size"]
