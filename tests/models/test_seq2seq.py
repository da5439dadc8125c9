"""Seq2Seq: a pairwise grid of every architecture option, padding invariance (token and feature sides), the
two decoding paths, gradcheck, the loss, shape checks and build_model (learning: test_learning.py)."""

import itertools
import math

import numpy as np
import pytest
import torch

from seq2seq import build_config
from seq2seq.config import Config, ConfigError, validate
from seq2seq.data.batching import collate
from seq2seq.data.sides import FeatureSide, TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import Vocab
from seq2seq.models import DecoderState, EncoderOutput, Seq2Seq, TokenHead, VectorHead, build_model

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
        validate(cfg)
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
    assert out.scores.shape == (3, 6, V_TGT)
    assert (out.attention is None) == (combo["attention"] == "none")
    loss, n = model.loss(out.scores, tgt_out)
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


def _check_padding_invariance_and_step_path(model: Seq2Seq) -> None:
    """Each sentence alone gives its padded batch row's scores and attention, padding gets no weight, and the
    step path (generation, input feeding, scheduled sampling) equals the sequence path."""
    src, src_len, tgt_in, _, tgt_len = _batch()
    real = torch.arange(7)[None] < src_len[:, None]
    with torch.no_grad():
        out = model(src, src_len, tgt_in)
        if out.attention is not None:
            per_head = out.attention.dim() == 4
            pad = ~(real[:, None, None] if per_head else real[:, None])
            assert torch.all(out.attention.masked_select(pad) == 0)
        for i in range(3):
            s, t = int(src_len[i]), int(tgt_len[i])
            alone = model(src[i:i + 1, :s], src_len[i:i + 1], tgt_in[i:i + 1, :t])
            torch.testing.assert_close(alone.scores[0], out.scores[i, :t], atol=1e-5, rtol=1e-5)
            if out.attention is not None:
                torch.testing.assert_close(alone.attention[0], out.attention[i, :t][..., :s], atol=1e-5, rtol=1e-5)
        state, memory = model.init_state(model.encode(src, src_len))
        assert isinstance(state, DecoderState)
        for t in range(tgt_in.size(1)):
            step = model.step(tgt_in[:, t], state, memory)
            state = step.state
            torch.testing.assert_close(step.scores, out.scores[:, t], atol=1e-5, rtol=1e-5)
            if out.attention is not None:  # a step gives the heads' mean and, with heads, each head's map
                maps = out.attention[:, t]
                torch.testing.assert_close(step.attention, maps.mean(1) if per_head else maps, atol=1e-5, rtol=1e-5)
                assert (step.head_attention is not None) == per_head
                if per_head:
                    torch.testing.assert_close(step.head_attention, maps, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("combo", GRID, ids=GRID_IDS)
def test_grid_padding_invariance_and_step_path(combo):
    _check_padding_invariance_and_step_path(_model(combo).eval())


# The attention family beyond the grid's (kept out of it so that it stays under 40 models).
FAMILY = [dict(attention="location"), dict(attention="location", coverage=True, input_feeding=True),
          dict(attention="concat", coverage=True, attention_output="tanh"), dict(attention="scaled_dot"),
          dict(attention="general", attention_heads=2), dict(attention="dot", attention_heads=3, input_feeding=True),
          dict(attention="scaled_dot", attention_heads=2, attention_output="tanh", feed_context="peeky")]


def _family_model(over: dict, seed: int = 0) -> Seq2Seq:
    base = {**_overrides(GRID[0]), "model.cell": "lstm", "model.bridge": "zero", "model.decoder_hidden": ENC_H,
            "model.bidirectional": False, "model.tie_embeddings": False, "model.input_feeding": False,
            "model.attention_output": "concat", "model.location_kernel": 3}
    torch.manual_seed(seed)
    return build_model(build_config(overrides={**base, **{f"model.{k}": v for k, v in over.items()}}).model,
                       V_SRC, V_TGT)


@pytest.mark.parametrize("over", FAMILY, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_attention_family_padding_invariance_step_path_and_gradients(over):
    model = _family_model(over)
    _check_padding_invariance_and_step_path(model.eval())
    src, src_len, tgt_in, tgt_out, _ = _batch()
    out = model.train()(src, src_len, tgt_in)
    heads = over.get("attention_heads", 1)
    assert out.attention.shape == ((3, 6, heads, 7) if heads > 1 else (3, 6, 7))
    model.loss(out.scores, tgt_out)[0].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"


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
    names = ["encoder.input.weight", "decoder.head.input.weight"]
    params = tuple(dict(model.named_parameters())[n].detach().clone().requires_grad_() for n in names)

    def f(*weights):
        out = torch.func.functional_call(model, dict(zip(names, weights)), (src, src_len, tgt_in))
        return model.loss(out.scores, tgt_out)[0]

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-5)


def test_loss_ignores_pad_and_label_smoothing():
    model = _model(GRID[0])
    src, src_len, tgt_in, tgt_out, tgt_len = _batch()
    logits = model(src, src_len, tgt_in).scores
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
        torch.testing.assert_close(always_gold.scores, forced.scores, atol=1e-5, rtol=1e-5)
        free = model(src, src_len, tgt_in, teacher_forcing=0.0)
        # free running: each input is the argmax of the previous step
        state, memory = model.init_state(model.encode(src, src_len))
        prev = tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            step = model.step(prev, state, memory)
            torch.testing.assert_close(step.scores, free.scores[:, t], atol=1e-5, rtol=1e-5)
            state, prev = step.state, step.scores.argmax(-1)


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
    assert model(src, src_len, tgt_in).scores.dtype == torch.float64


def test_build_model_validates_and_keeps_config():
    cfg = build_config("luong").model
    model = build_model(cfg, 12, 13)
    assert model.config is cfg
    cfg_bad = build_config().model
    cfg_bad.input_feeding = True  # bypassing build_config's validation
    with pytest.raises(ConfigError, match="input_feeding"):
        build_model(cfg_bad, 12, 13)



def test_build_model_checks_the_sizes_and_picks_the_head():
    cfg = build_config(overrides={"data.target_type": "features", "data.source_type": "features"})
    model = build_model(cfg, 3, 2)
    assert isinstance(model.head, VectorHead) and model.head is model.decoder.head and model.head.dim == 2
    assert model.encoder.input.in_features == 3
    assert isinstance(build_model(build_config().model, 5, 6).head, TokenHead)
    for src_size, tgt_size, message in ((1, 6, "src_size must be an integer >= 2 for a tokens side, got 1"),
                                        (5, 6.0, "tgt_size must be an integer >= 2 for a tokens side, got 6.0"),
                                        (5, True, "tgt_size must be an integer >= 2")):
        with pytest.raises(ValueError, match=message):
            build_model(build_config().model, src_size, tgt_size)
    with pytest.raises(ValueError, match="tgt_size must be an integer >= 1 for a features side, got 0"):
        build_model(cfg, 3, 0)
    with pytest.raises(TypeError, match="build_model needs a ModelConfig"):
        build_model(Config(model=cfg.data), 3, 2)


def test_same_seed_same_weights():
    a, b = _model(GRID[0], seed=4), _model(GRID[0], seed=4)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


# ---------------------------------------------------------------- feature sources and targets

TOKENS = TokenSide(build_tokenizer("char"), Vocab.build([]))


@pytest.mark.parametrize("overrides", [
    {"model.pyramid_layers": 2, "model.bidirectional": True, "model.attention": "concat",
     "model.input_feeding": True, "model.bridge": "linear", "data.target_type": "tokens"},
    {"model.attention": "general", "model.feed_context": "peeky", "data.target_type": "features",
     "model.stop_flag": True},
])
def test_padding_invariance_for_feature_inputs(overrides):
    torch.manual_seed(0)
    cfg = build_config(overrides={"data.source_type": "features", "model.embedding_size": 8,
                                  "model.encoder_hidden": 16, "model.decoder_hidden": 16, **overrides})
    features_out = cfg.data.target_type == "features"
    model = build_model(cfg, 5, 3 if features_out else 12).eval()
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(n, 5)).astype(np.float32),
              rng.normal(size=(m, 3)).astype(np.float32) if features_out else list(rng.integers(4, 12, m)))
             for n, m in ((7, 3), (2, 1), (13, 5))]
    source, target = FeatureSide(5), FeatureSide(3) if features_out else TOKENS
    batch = collate(pairs, source, target)
    with torch.no_grad():
        together = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss_all, n_all = model.loss(together.scores, batch.tgt_out)
        total = 0.0
        for i, pair in enumerate(pairs):
            one = collate([pair], source, target)
            alone = model(one.src, one.src_lengths, one.tgt_in)
            steps = one.tgt_out.size(1)
            assert torch.allclose(alone.scores[0], together.scores[i, :steps], atol=1e-5)
            assert torch.allclose(alone.attention[0], together.attention[i, :steps, : alone.attention.size(2)],
                                  atol=1e-6)
            assert float(together.attention[i, :steps, alone.attention.size(2):].abs().sum()) == 0.0
            total += float(model.loss(alone.scores, one.tgt_out)[0])
    assert math.isclose(float(loss_all), total, rel_tol=1e-4)
    assert n_all == sum(len(t) + (0 if features_out else 1) for _, t in pairs)


def test_feature_targets_step_path_and_start_vector():
    cfg = build_config(overrides={"data.source_type": "features", "data.target_type": "features",
                                  "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16,
                                  "model.attention": "general", "model.input_feeding": True,
                                  "model.stop_flag": True})
    torch.manual_seed(0)
    model = build_model(cfg, 4, 2).eval()
    with torch.no_grad():
        model.head.start_vector.copy_(torch.tensor([0.5, -1.0]))
    src = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([5, 3])
    tgt_in = torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = model(src, lengths, tgt_in)
        assert out.scores.shape == (2, 4, 3)
        # step 0 of tgt_in is never read: the head's start vector takes its place
        other = tgt_in.clone()
        other[:, 0] = 99.0
        torch.testing.assert_close(model(src, lengths, other).scores, out.scores)
        state, memory = model.init_state(model.encode(src, lengths))
        prev = model.head.start(2, src.device)
        for t in range(4):
            step = model.step(prev, state, memory)
            torch.testing.assert_close(step.scores, out.scores[:, t], atol=1e-5, rtol=1e-5)
            state, prev = step.state, tgt_in[:, t + 1] if t < 3 else None


def test_feature_scheduled_sampling_feeds_back_the_predicted_vector():
    cfg = build_config(overrides={"data.source_type": "features", "data.target_type": "features",
                                  "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16,
                                  "model.stop_flag": True})
    torch.manual_seed(0)
    model = build_model(cfg, 4, 2).eval()
    src, lengths = torch.randn(2, 5, 4), torch.tensor([5, 3])
    tgt_in = torch.randn(2, 4, 2)
    with torch.no_grad():
        free = model(src, lengths, tgt_in, teacher_forcing=0.0)
        state, memory = model.init_state(model.encode(src, lengths))
        prev = model.head.start(2, src.device)
        for t in range(4):
            step = model.step(prev, state, memory)
            torch.testing.assert_close(step.scores, free.scores[:, t], atol=1e-5, rtol=1e-5)
            state, prev = step.state, step.scores[:, :2]  # without the stop flag
