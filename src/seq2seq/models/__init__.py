"""Encoder-decoder models: `build_model(config, src_size, tgt_size)` assembles them."""

from seq2seq.models.decoder import DecoderState, Memory, StepOutput
from seq2seq.models.encoder import EncoderOutput, FinalState
from seq2seq.models.heads import HEADS, TokenHead, VectorHead
from seq2seq.models.seq2seq import ModelOutput, Seq2Seq, build_model

__all__ = ["HEADS", "DecoderState", "EncoderOutput", "FinalState", "Memory", "ModelOutput", "Seq2Seq", "StepOutput",
           "TokenHead", "VectorHead", "build_model"]
