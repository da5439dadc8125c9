"""Location-aware attention (Chorowski et al. 2015) and coverage in the additive score: the features, their
first values, and a focus that moves by location alone."""

import torch

from seq2seq.models.alignment import AlignmentFeatures
from seq2seq.models.attention import Attention


def _mask():
    return torch.arange(5)[None] < torch.tensor([5, 3])[:, None]


def test_initial_history_is_uniform_over_real_positions_and_zero_coverage():
    features = AlignmentFeatures(4, location=True, coverage=True, channels=2, kernel=3)
    previous, coverage = features.initial(_mask(), torch.zeros(1))
    torch.testing.assert_close(previous, torch.tensor([[0.2] * 5, [1 / 3] * 3 + [0.0] * 2]))
    assert torch.equal(coverage, torch.zeros(2, 5))
    only_coverage = AlignmentFeatures(4, location=False, coverage=True)
    assert only_coverage.initial(_mask(), torch.zeros(1))[0] is None


def test_location_features_are_a_convolution_of_the_history():
    torch.manual_seed(0)
    features = AlignmentFeatures(4, location=True, coverage=True, channels=2, kernel=3)
    previous, coverage = torch.rand(2, 5), torch.rand(2, 5)
    out = features(previous, coverage)
    assert out.shape == (2, 5, 4)
    padded = torch.nn.functional.pad(torch.stack([previous, coverage], 1), (1, 1))
    w = features.conv.weight  # (channels, inputs, kernel)
    i = 2
    conv = torch.einsum("cik,bik->bc", w, padded[:, :, i:i + 3])
    torch.testing.assert_close(out[:, i], conv @ features.proj.weight.T)


def test_coverage_alone_is_a_linear_term():
    torch.manual_seed(0)
    features = AlignmentFeatures(4, location=False, coverage=True)
    coverage = torch.rand(2, 5)
    torch.testing.assert_close(features(None, coverage), coverage.unsqueeze(-1) * features.proj.weight[:, 0])


def test_location_alone_moves_the_focus_without_content():
    """Every source position has the same content, so only the location features tell them apart: with a
    convolution that reads the left neighbour, the focus walks one position per step."""
    features = AlignmentFeatures(3, location=True, coverage=False, channels=1, kernel=3)
    attn = Attention("location", 3, 3, features=features)
    with torch.no_grad():
        for p in attn.parameters():
            p.zero_()
        features.conv.weight[0, 0, 0] = 20.0  # f_i = 20 * previous_{i-1}
        features.proj.weight.fill_(1.0)
        attn.v.weight.fill_(3.0)  # a saturated tanh gives 9 at the next position, 0 elsewhere
    values = torch.ones(1, 5, 3)
    mask = torch.ones(1, 5, dtype=torch.bool)
    previous = torch.tensor([[1.0, 0, 0, 0, 0]])
    for step in range(1, 5):
        with torch.no_grad():
            _, weights, _ = attn(torch.zeros(1, 3), attn.precompute(values), values, mask, previous)
        assert int(weights.argmax()) == step and float(weights.max()) > 0.99
        previous = weights


def test_history_past_a_sentence_end_changes_nothing():
    """Weights beyond the end are exactly 0, as the convolution's own zero padding: a shorter mask gives the
    same features at the real positions."""
    torch.manual_seed(0)
    features = AlignmentFeatures(4, location=True, coverage=True, channels=3, kernel=5)
    previous, coverage = torch.rand(1, 3), torch.rand(1, 3)
    long_previous = torch.cat([previous, torch.zeros(1, 4)], 1)
    long_coverage = torch.cat([coverage, torch.zeros(1, 4)], 1)
    torch.testing.assert_close(features(long_previous, long_coverage)[:, :3], features(previous, coverage))


def test_gradcheck_of_location_attention_with_coverage():
    torch.manual_seed(0)
    features = AlignmentFeatures(4, location=True, coverage=True, channels=2, kernel=3)
    attn = Attention("location", 4, 4, features=features).double()
    g = torch.Generator().manual_seed(1)
    query = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    previous = torch.softmax(torch.randn(2, 5, generator=g, dtype=torch.float64), -1).requires_grad_()
    coverage = torch.rand(2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    mask = _mask()

    def f(q, v, p, c):
        return attn(q, attn.precompute(v), v, mask, p, c)[:2]

    assert torch.autograd.gradcheck(f, (query, values, previous, coverage), eps=1e-6, atol=1e-5)
