"""Attention scores, masking, one step vs a whole sequence, gradcheck."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.config import ConfigError
from seq2seq.models.attention import Attention

SCORES = ["dot", "general", "concat"]


def _inputs(dtype=torch.float32, q_size=6, v_size=6):
    g = torch.Generator().manual_seed(0)
    query = torch.randn(3, 4, q_size, generator=g, dtype=dtype)
    values = torch.randn(3, 5, v_size, generator=g, dtype=dtype)
    mask = torch.arange(5)[None] < torch.tensor([5, 2, 3])[:, None]
    return query, values, mask


@pytest.mark.parametrize("score", SCORES)
def test_shapes_mask_and_step(score):
    torch.manual_seed(0)
    v_size = 6 if score == "dot" else 7
    attn = Attention(score, 6, v_size)
    query, values, mask = _inputs(v_size=v_size)
    keys = attn.precompute(values)
    context, weights, _ = attn(query, keys, values, mask)
    assert context.shape == (3, 4, v_size) and weights.shape == (3, 4, 5)
    assert torch.all(weights[~mask.unsqueeze(1).expand_as(weights)] == 0)  # exactly zero on pad
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    for t in range(4):
        c, w, _ = attn(query[:, t], keys, values, mask)
        assert c.shape == (3, v_size) and w.shape == (3, 5)
        torch.testing.assert_close(c, context[:, t])
        torch.testing.assert_close(w, weights[:, t])


def test_scores_match_their_formulas():
    torch.manual_seed(0)
    query, values, mask = _inputs()
    full = torch.ones_like(mask)
    q, h = query[0, 0], values[0]
    dot = Attention("dot", 6, 6)
    _, w, _ = dot(query, dot.precompute(values), values, full)
    torch.testing.assert_close(w[0, 0], torch.softmax(h @ q, -1))
    gen = Attention("general", 6, 6)
    _, w, _ = gen(query, gen.precompute(values), values, full)
    torch.testing.assert_close(w[0, 0], torch.softmax((h @ gen.key_proj.weight.T) @ q, -1))
    cat = Attention("concat", 6, 6)
    _, w, _ = cat(query, cat.precompute(values), values, full)
    pre = torch.tanh(cat.query_proj(q) + h @ cat.key_proj.weight.T)
    torch.testing.assert_close(w[0, 0], torch.softmax(pre @ cat.v.weight[0], -1))


@pytest.mark.parametrize("score", SCORES)
def test_gradcheck(score):
    torch.manual_seed(0)
    attn = Attention(score, 4, 4).double()
    query, values, mask = _inputs(torch.float64, 4, 4)
    query, values = query[:2, :2].requires_grad_(), values[:2, :4].requires_grad_()
    mask = mask[:2, :4]

    def f(q, v):
        return attn(q, attn.precompute(v), v, mask)

    assert torch.autograd.gradcheck(f, (query, values), eps=1e-6, atol=1e-5)


def test_dot_needs_equal_sizes_and_unknown_score():
    # The config is the one place combinations are checked (Attention trusts it).
    with pytest.raises(ConfigError, match="dot"):
        build_config(overrides={"model.attention": "dot", "model.bridge": "zero", "model.encoder_hidden": 4,
                                "model.decoder_hidden": 8})
    with pytest.raises(ConfigError, match="attention"):
        build_config(overrides={"model.attention": "cosine"})


@pytest.mark.parametrize("score", SCORES)
def test_keys_are_precomputed_once(score):
    torch.manual_seed(0)
    attn = Attention(score, 6, 6)
    _, values, _ = _inputs()
    keys = attn.precompute(values)
    if score == "dot":
        assert keys is values
    else:
        torch.testing.assert_close(keys, values @ attn.key_proj.weight.T)


def test_fully_masked_but_one_position_gets_all_weight():
    torch.manual_seed(0)
    attn = Attention("general", 6, 6)
    query, values, _ = _inputs()
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[:, 2] = True
    context, weights, _ = attn(query, attn.precompute(values), values, mask)
    assert torch.all(weights[..., 2] == 1)
    torch.testing.assert_close(context, values[:, 2:3].expand(-1, 4, -1))


def test_scaled_dot_divides_by_the_root_of_the_size():
    query, values, mask = _inputs()
    full = torch.ones_like(mask)
    _, w, _ = Attention("scaled_dot", 6, 6)(query, values, values, full)
    torch.testing.assert_close(w[1, 2], torch.softmax(values[1] @ query[1, 2] / 6 ** 0.5, -1))


@pytest.mark.parametrize("score", ["dot", "scaled_dot", "general"])
def test_heads_score_their_own_parts_and_are_projected(score):
    torch.manual_seed(0)
    attn = Attention(score, 6, 6, heads=3)
    query, values, mask = _inputs()
    keys = attn.precompute(values)
    context, weights, per_head = attn(query, keys, values, mask)
    assert context.shape == (3, 4, 6) and weights.shape == (3, 4, 5) and per_head.shape == (3, 4, 3, 5)
    b, t = 2, 1
    scale = 1 / 2 ** 0.5 if score == "scaled_dot" else 1.0
    parts = []
    for h in range(3):
        q, k, v = query[b, t, 2 * h:2 * h + 2], keys[b, :, 2 * h:2 * h + 2], values[b, :, 2 * h:2 * h + 2]
        e = (k @ q * scale).masked_fill(~mask[b], float("-inf"))
        w = torch.softmax(e, -1)
        torch.testing.assert_close(per_head[b, t, h], w)
        parts.append(w @ v)
    torch.testing.assert_close(context[b, t], attn.out_proj(torch.cat(parts)))
    torch.testing.assert_close(weights, per_head.mean(2))
    assert torch.all(per_head[~mask[:, None, None, :].expand_as(per_head)] == 0)
    for step in range(4):
        c, w, ph = attn(query[:, step], keys, values, mask)
        torch.testing.assert_close(c, context[:, step])
        torch.testing.assert_close(ph, per_head[:, step])


def test_one_head_has_no_output_projection():
    assert Attention("general", 6, 6).out_proj is None
    assert Attention("general", 6, 6, heads=2).out_proj.weight.shape == (6, 6)


@pytest.mark.parametrize("score", ["dot", "scaled_dot", "general"])
def test_gradcheck_with_heads(score):
    torch.manual_seed(0)
    attn = Attention(score, 4, 4, heads=2).double()
    query, values, mask = _inputs(torch.float64, 4, 4)
    query, values = query[:2, :2].requires_grad_(), values[:2, :4].requires_grad_()

    def f(q, v):
        return attn(q, attn.precompute(v), v, mask[:2, :4])[:2]

    assert torch.autograd.gradcheck(f, (query, values), eps=1e-6, atol=1e-5)
