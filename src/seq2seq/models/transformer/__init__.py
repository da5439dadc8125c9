"""The Transformer (Vaswani et al. 2017) as an encoder and a decoder of the same pipeline as the recurrent ones."""

from .decoder import TransformerDecoder, TransformerMemory, TransformerState
from .encoder import TransformerEncoder

__all__ = ["TransformerDecoder", "TransformerEncoder", "TransformerMemory", "TransformerState"]
