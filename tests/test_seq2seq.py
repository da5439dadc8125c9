"""Seq2Seq: a pairwise grid of every architecture option, padding invariance, the two decoding paths,
gradcheck, the loss, shape checks, config refusals, and every preset learning a reverse task."""

import itertools
import time

import numpy as np
import pytest
import torch

from seq2seq.config import PRESETS, Config, ConfigError, build_config
from seq2seq.models import DecoderState, EncoderOutput, Seq2Seq, build_model

BOS, EOS = 2, 3
V_SRC, V_TGT = 10, 11
ENC_H = 6

# ---------------------------------------------------------------- the pairwise grid

FACTORS = {
    "cell": ["lstm", "gru", "rnn"],
    "directions": ["uni", "bi-concat", "bi-sum", "bi-mean"],
    "bridge": ["copy", "zero", "linear"],
    "feed_context": ["init", "input", "peeky"],
    "attention": ["none", "dot", "general", "concat"],
    "attention_output": ["concat", "tanh"],
    "input_feeding": [False, True],
    "stack": ["1x1", "2x2", "2x2-residual", "3x2-residual"],
    "sizes": ["match", "differ"],
    "tie_embeddings": [False, True],
}


def _overrides(combo: dict) -> dict:
    bi = combo["directions"] != "uni"
    merge = combo["directions"].split("-")[1] if bi else "concat"
    enc_out = ENC_H * (2 if bi and merge == "concat" else 1)
    layers, _, res = combo["stack"].partition("-")
    enc_layers, dec_layers = (int(n) for n in layers.split("x"))
    return {"model.cell": combo["cell"], "model.embedding_size": 5, "model.encoder_hidden": ENC_H,
            "model.decoder_hidden": enc_out if combo["sizes"] == "match" else enc_out + 3,
            "model.encoder_layers": enc_layers, "model.decoder_layers": dec_layers,
            "model.bidirectional": bi, "model.bidirectional_merge": merge,
            "model.residual": res == "residual", "model.bridge": combo["bridge"],
            "model.feed_context": combo["feed_context"], "model.attention": combo["attention"],
            "model.attention_output": combo["attention_output"],
            "model.input_feeding": combo["input_feeding"], "model.tie_embeddings": combo["tie_embeddings"]}


def _valid(over: dict) -> bool:
    cfg = Config()
    for k, v in over.items():
        setattr(cfg.model, k.split(".")[1], v)
    try:
        cfg.validate()
    except ConfigError:
        return False
    return True


def pairwise_grid() -> list[dict]:
    """Valid combinations covering every (value, value) pair of any two factors that is valid at all."""
    names = list(FACTORS)
    combos = [dict(zip(names, vals)) for vals in itertools.product(*FACTORS.values())]
    combos = [c for c in combos if _valid(_overrides(c))]
    pair_ids: dict = {}
    rows = []
    for c in combos:
        idx = [names.index(n) * 10 + FACTORS[n].index(c[n]) for n in names]
        rows.append([pair_ids.setdefault(p, len(pair_ids)) for p in itertools.combinations(idx, 2)])
    rows = np.array(rows)
    uncovered = np.ones(len(pair_ids), dtype=bool)
    chosen = []
    while uncovered.any():
        best = int(uncovered[rows].sum(1).argmax())  # greedy: the combo covering most new pairs
        chosen.append(combos[best])
        uncovered[rows[best]] = False
    return chosen


GRID = pairwise_grid()
GRID_IDS = ["|".join(str(v) for v in c.values()) for c in GRID]


def _model(combo: dict, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return build_model(build_config(overrides=_overrides(combo)).model, V_SRC, V_TGT)


def _batch(seed=0):
    """3 sentences with different source and target lengths, PAD-padded."""
    g = torch.Generator().manual_seed(seed)
    src_len, tgt_len = torch.tensor([4, 7, 2]), torch.tensor([3, 2, 6])
    src = torch.randint(4, V_SRC, (3, 7), generator=g)
    src[torch.arange(7)[None] >= src_len[:, None]] = 0
    tgt = torch.randint(4, V_TGT, (3, 6), generator=g)
    tgt_in = torch.cat([torch.full((3, 1), BOS), tgt[:, :-1]], 1)
    tgt_out = tgt.clone()
    tgt_out[torch.arange(6)[None] == (tgt_len - 1)[:, None]] = EOS
    pad = torch.arange(6)[None] >= tgt_len[:, None]
    tgt_in[pad], tgt_out[pad] = 0, 0
    return src, src_len, tgt_in, tgt_out, tgt_len


def test_grid_covers_every_value():
    for name, values in FACTORS.items():
        assert {c[name] for c in GRID} == set(values), name
    assert len(GRID) < 40


@pytest.mark.parametrize("combo", GRID, ids=GRID_IDS)
def test_grid_forward_backward(combo):
    model = _model(combo).train()
    src, src_len, tgt_in, tgt_out, _ = _batch()
    out = model(src, src_len, tgt_in)
    assert out.logits.shape == (3, 6, V_TGT)
    assert (out.attention is None) == (combo["attention"] == "none")
    loss, n = model.loss(out.logits, tgt_out)
    assert n == 11
    loss.backward()
    # with a zero bridge, no attention and context only via the bridge, the encoder is never read
    encoder_unused = (combo["bridge"], combo["feed_context"], combo["attention"]) == ("zero", "init", "none")
    for name, p in model.named_parameters():
        if encoder_unused and name.startswith("encoder."):
            assert p.grad is None, name
            continue
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize("combo", GRID, ids=GRID_IDS)
def test_grid_padding_invariance_and_step_path(combo):
    model = _model(combo).eval()
    src, src_len, tgt_in, _, tgt_len = _batch()
    with torch.no_grad():
        out = model(src, src_len, tgt_in)
        if out.attention is not None:
            assert torch.all(out.attention.masked_select(~(torch.arange(7)[None] < src_len[:, None])[:, None]) == 0)
        for i in range(3):
            s, t = int(src_len[i]), int(tgt_len[i])
            alone = model(src[i:i + 1, :s], src_len[i:i + 1], tgt_in[i:i + 1, :t])
            torch.testing.assert_close(alone.logits[0], out.logits[i, :t], atol=1e-5, rtol=1e-5)
            if out.attention is not None:
                torch.testing.assert_close(alone.attention[0], out.attention[i, :t, :s], atol=1e-5, rtol=1e-5)
        # the step path (generation, input feeding, scheduled sampling) equals the sequence path
        state, memory = model.init_state(model.encode(src, src_len))
        assert isinstance(state, DecoderState)
        for t in range(tgt_in.size(1)):
            step = model.step(tgt_in[:, t], state, memory)
            state = step.state
            torch.testing.assert_close(step.logits, out.logits[:, t], atol=1e-5, rtol=1e-5)
            if out.attention is not None:
                torch.testing.assert_close(step.attention, out.attention[:, t], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- gradcheck, loss, sampling, checks


@pytest.mark.parametrize("attention", ["none", "dot", "general", "concat"])
def test_gradcheck_model_loss(attention):
    over = {"model.embedding_size": 3, "model.encoder_hidden": 4, "model.decoder_hidden": 4,
            "model.attention": attention, "model.bidirectional": attention == "concat",
            "model.bidirectional_merge": "sum", "model.bridge": "linear",
            "model.input_feeding": attention == "general", "model.attention_output":
            "tanh" if attention == "general" else "concat"}
    torch.manual_seed(0)
    model = build_model(build_config(overrides=over).model, 6, 6).double()
    src = torch.tensor([[4, 5, 4], [5, 0, 0]])
    src_len = torch.tensor([3, 1])
    tgt_in, tgt_out = torch.tensor([[2, 4], [2, 5]]), torch.tensor([[4, 3], [3, 0]])
    names = ["encoder.embed.weight", "decoder.embed.weight"]
    params = tuple(dict(model.named_parameters())[n].detach().clone().requires_grad_() for n in names)

    def f(*weights):
        out = torch.func.functional_call(model, dict(zip(names, weights)), (src, src_len, tgt_in))
        return model.loss(out.logits, tgt_out)[0]

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-5)


def test_loss_ignores_pad_and_label_smoothing():
    model = _model(GRID[0])
    src, src_len, tgt_in, tgt_out, tgt_len = _batch()
    logits = model(src, src_len, tgt_in).logits
    loss, n = model.loss(logits, tgt_out)
    assert n == int(tgt_len.sum())
    manual = sum(torch.nn.functional.cross_entropy(logits[i, :t], tgt_out[i, :t], reduction="sum")
                 for i, t in enumerate(tgt_len.tolist()))
    torch.testing.assert_close(loss, manual)
    smooth, _ = model.loss(logits, tgt_out, label_smoothing=0.1)
    assert smooth.item() != pytest.approx(loss.item())


def test_scheduled_sampling():
    combo = dict(GRID[0], attention="general", input_feeding=False)
    model = _model(combo).eval()
    src, src_len, tgt_in, _, _ = _batch()
    with torch.no_grad():
        forced = model(src, src_len, tgt_in, teacher_forcing=1.0)
        torch.manual_seed(3)
        always_gold = model(src, src_len, tgt_in, teacher_forcing=0.999999)
        torch.testing.assert_close(always_gold.logits, forced.logits, atol=1e-5, rtol=1e-5)
        free = model(src, src_len, tgt_in, teacher_forcing=0.0)
        # free running: each input is the argmax of the previous step
        state, memory = model.init_state(model.encode(src, src_len))
        prev = tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            step = model.step(prev, state, memory)
            torch.testing.assert_close(step.logits, free.logits[:, t], atol=1e-5, rtol=1e-5)
            state, prev = step.state, step.logits.argmax(-1)


def test_boundary_shape_checks():
    model = _model(GRID[0])
    src, src_len, tgt_in, _, _ = _batch()
    with pytest.raises(ValueError, match="src"):
        model.encode(src[0], src_len)
    with pytest.raises(ValueError, match="integer"):
        model.encode(src.float(), src_len)
    with pytest.raises(ValueError, match="src_lengths"):
        model.encode(src, src_len[:2])
    with pytest.raises(ValueError, match="src_lengths"):
        model.encode(src, torch.tensor([4, 8, 2]))
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, src_len, tgt_in[:2])
    assert isinstance(model.encode(src, src_len), EncoderOutput)


def test_double_precision():
    model = _model(dict(GRID[0], attention="concat", bridge="linear")).double()
    src, src_len, tgt_in, _, _ = _batch()
    assert model(src, src_len, tgt_in).logits.dtype == torch.float64


@pytest.mark.parametrize("over,key", [
    ({"model.bridge": "copy", "model.encoder_hidden": 8, "model.decoder_hidden": 16}, "model.bridge"),
    ({"model.bridge": "copy", "model.bidirectional": True}, "model.bridge"),
    ({"model.bridge": "copy", "model.encoder_layers": 2}, "model.bridge"),
    ({"model.attention": "dot", "model.bridge": "zero", "model.decoder_hidden": 8}, "model.attention"),
    ({"model.input_feeding": True}, "model.input_feeding"),
    ({"model.attention_output": "tanh"}, "model.attention_output"),
    ({"model.tie_embeddings": True, "model.feed_context": "peeky"}, "model.tie_embeddings"),
    ({"model.cell": "transformer"}, "model.cell"),
    ({"model.attention": "cosine"}, "model.attention"),
])
def test_impossible_combinations_fail_at_config_time(over, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_config(overrides=over)


def test_build_model_validates_and_keeps_config():
    cfg = build_config("luong").model
    model = build_model(cfg, 12, 13)
    assert model.config is cfg
    cfg_bad = build_config().model
    cfg_bad.input_feeding = True  # bypassing build_config's validation
    with pytest.raises(ConfigError, match="input_feeding"):
        build_model(cfg_bad, 12, 13)


# ---------------------------------------------------------------- every preset learns to reverse

N_LETTERS = 8
STEPS = {"deep-residual": 1200}


def _reverse_task(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 9, (n,), generator=g)
    src = torch.zeros(n, 8, dtype=torch.long)
    tgt_in = torch.zeros(n, 9, dtype=torch.long)
    tgt_out = torch.zeros(n, 9, dtype=torch.long)
    for i, length in enumerate(lengths.tolist()):
        s = torch.randint(4, 4 + N_LETTERS, (length,), generator=g)
        src[i, :length] = s
        tgt_in[i, :length + 1] = torch.cat([torch.tensor([BOS]), s.flip(0)])
        tgt_out[i, :length + 1] = torch.cat([s.flip(0), torch.tensor([EOS])])
    return src, lengths, tgt_in, tgt_out


def _greedy(model, src, src_len, max_len):
    state, memory = model.init_state(model.encode(src, src_len))
    prev = torch.full((src.size(0),), BOS)
    out = []
    for _ in range(max_len):
        step = model.step(prev, state, memory)
        state, prev = step.state, step.logits.argmax(-1)
        out.append(prev)
    return torch.stack(out, 1)


def _exact_match(pred, tgt_out):
    real = tgt_out != 0
    return ((pred == tgt_out) | ~real).all(1).float().mean().item()


@pytest.mark.parametrize("preset", [p for p, (_, v) in PRESETS.items()
                                    if v.get("data.source_type", "tokens") == "tokens"])  # las: test_features
def test_preset_learns_reverse(preset):
    cfg = build_config(preset, overrides={"model.embedding_size": 32, "model.encoder_hidden": 64,
                                          "model.decoder_hidden": 64, "model.dropout": 0.0})
    torch.manual_seed(0)
    model = build_model(cfg.model, 4 + N_LETTERS, 4 + N_LETTERS)
    src, src_len, tgt_in, tgt_out = _reverse_task()
    if cfg.data.reverse_source:  # what the data package does for `reverse` presets
        src = torch.stack([torch.cat([s[:n].flip(0), s[n:]]) for s, n in zip(src, src_len.tolist())])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3 if preset == "deep-residual" else 1e-2)
    start, match = time.perf_counter(), 0.0
    for step in range(1, STEPS.get(preset, 600) + 1):
        model.train()
        loss, n = model.loss(model(src, src_len, tgt_in).logits, tgt_out)
        opt.zero_grad()
        (loss / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 25 == 0:
            model.eval()
            with torch.no_grad():
                match = _exact_match(_greedy(model, src, src_len, 9), tgt_out)
            if match == 1.0:
                break
    print(f"{preset}: exact match {match:.2f} after {step} steps, {time.perf_counter() - start:.1f}s")
    assert match == 1.0, f"{preset}: exact match {match:.2f} after {step} steps"
