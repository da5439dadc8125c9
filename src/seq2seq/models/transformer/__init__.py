"""The Transformer (Vaswani et al. 2017) as an encoder and a decoder of the same pipeline as the recurrent ones."""

from seq2seq.models.transformer.decoder import TransformerDecoder, TransformerMemory, TransformerState
from seq2seq.models.transformer.encoder import TransformerEncoder

__all__ = ["TransformerDecoder", "TransformerEncoder", "TransformerMemory", "TransformerState"]
