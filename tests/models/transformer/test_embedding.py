"""What a Transformer stack reads: token embeddings drawn small and scaled by sqrt(E), projected when E != D."""

import math

import pytest
import torch

from seq2seq.models.inputs import FeatureProjection, TokenEmbedding
from seq2seq.models.transformer.embedding import EmbeddingScaling, TransformerInput
from seq2seq.models.transformer.positions import SinusoidalPositions


def test_token_embeddings_are_redrawn_small_and_scaled_on_reading():
    torch.manual_seed(0)
    embedding = TokenEmbedding(500, 64)
    scaling = EmbeddingScaling(embedding)
    assert scaling.factor == pytest.approx(8.0)
    assert embedding.weight[1:].std().item() == pytest.approx(1 / 8, rel=0.05)
    assert torch.all(embedding.weight[0] == 0)  # <pad> still embeds to zeros
    scaled = scaling(embedding(torch.tensor([[5, 6]])))
    assert scaled.std().item() == pytest.approx(1.0, rel=0.3)


def test_feature_projections_are_read_as_they_are():
    projection = FeatureProjection(3, 8)
    before = projection.weight.clone()
    scaling = EmbeddingScaling(projection)
    assert scaling.factor == 1.0 and torch.equal(projection.weight, before)


@pytest.mark.parametrize("embedding_size, size", [(8, 8), (6, 8)])
def test_input_adds_positions_from_the_offset(embedding_size, size):
    torch.manual_seed(0)
    embedding = TokenEmbedding(10, embedding_size)
    layer = TransformerInput(embedding, embedding_size, size, SinusoidalPositions(size), 0.0).eval()
    assert (layer.projection is None) == (embedding_size == size)
    ids = torch.tensor([[4, 5, 6, 7]])
    whole = layer(embedding(ids))
    assert whole.shape == (1, 4, size)
    torch.testing.assert_close(layer(embedding(ids[:, 2:]), offset=2), whole[:, 2:])
    x = embedding(ids) * math.sqrt(embedding_size)
    if layer.projection is not None:
        x = layer.projection(x)
    torch.testing.assert_close(whole, x + SinusoidalPositions(size)(4))
