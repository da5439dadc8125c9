"""Encoder-decoder models: `build_model(config, src_size, tgt_size)` assembles them."""

from .decoder import DecoderState, Memory, StepOutput
from .encoder import EncoderOutput, FinalState
from .heads import HEADS, TokenHead, VectorHead
from .seq2seq import ModelOutput, Seq2Seq, build_model

__all__ = ["HEADS", "DecoderState", "EncoderOutput", "FinalState", "Memory", "ModelOutput", "Seq2Seq", "StepOutput",
           "TokenHead", "VectorHead", "build_model"]
