"""Multi-head attention: the explicit-weights path equals the fused kernel, padding keys get no weight, the
causal mask hides later positions, and attending over a cache equals attending over the whole sequence."""

import pytest
import torch

from seq2seq.models.transformer.attention import MultiHeadAttention


def _attention(size=8, heads=2, key_size=None, seed=0):
    torch.manual_seed(seed)
    return MultiHeadAttention(size, heads, dropout=0.0, key_size=key_size).eval()


def test_shapes_and_the_explicit_weights_equal_the_kernel():
    mha = _attention(key_size=5)
    query, memory = torch.randn(3, 4, 8), torch.randn(3, 6, 5)
    mask = torch.arange(6)[None] < torch.tensor([6, 2, 4])[:, None]
    keys, values = mha.keys_values(memory)
    assert keys.shape == values.shape == (3, 2, 6, 4)
    fused, none = mha(query, keys, values, key_mask=mask)
    explicit, weights = mha(query, keys, values, key_mask=mask, need_weights=True)
    assert none is None and fused.shape == (3, 4, 8) and weights.shape == (3, 2, 4, 6)
    torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 4))
    assert torch.all(weights.masked_select(~mask[:, None, None, :]) == 0)


def test_padded_keys_change_nothing():
    mha = _attention()
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    keys, values = mha.keys_values(x)
    out, w = mha(x, keys, values, key_mask=mask, need_weights=True)
    k3, v3 = mha.keys_values(x[:1, :3])
    alone, w_alone = mha(x[:1], k3, v3, need_weights=True)
    torch.testing.assert_close(out[:1], alone, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w[:1, ..., :3], w_alone)


@pytest.mark.parametrize("need_weights", [False, True])
def test_causal_mask_hides_later_positions(need_weights):
    mha = _attention()
    x = torch.randn(2, 6, 8)
    changed = x.clone()
    changed[:, 4:] += 5.0
    out = mha(x, *mha.keys_values(x), causal=True, need_weights=need_weights)[0]
    out2 = mha(changed, *mha.keys_values(changed), causal=True, need_weights=need_weights)[0]
    torch.testing.assert_close(out[:, :4], out2[:, :4])
    assert not torch.allclose(out[:, 4:], out2[:, 4:])


def test_the_last_positions_over_a_cache_equal_the_whole_sequence():
    mha = _attention()
    x = torch.randn(2, 7, 8)
    whole, w = mha(x, *mha.keys_values(x), causal=True, need_weights=True)
    keys, values = mha.keys_values(x)  # positions 0..2 cached, 3..6 new: a causal block with an offset
    part, w_part = mha(x[:, 3:], keys, values, causal=True, need_weights=True)
    fused, _ = mha(x[:, 3:], keys, values, causal=True)
    torch.testing.assert_close(part, whole[:, 3:], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fused, whole[:, 3:], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w_part, w[:, :, 3:])
    for t in range(7):  # one position at a time over its past: what generation does
        step, _ = mha(x[:, t:t + 1], keys[:, :, : t + 1], values[:, :, : t + 1], causal=True)
        torch.testing.assert_close(step[:, 0], whole[:, t], atol=1e-6, rtol=1e-5)


def test_attention_dropout_only_in_training():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 5, 8)
    kv = mha.keys_values(x)
    mha.train()
    assert not torch.allclose(mha(x, *kv)[0], mha(x, *kv)[0])
    mha.eval()
    torch.testing.assert_close(mha(x, *kv)[0], mha(x, *kv)[0])
