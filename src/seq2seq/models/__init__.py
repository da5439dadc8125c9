"""Encoder-decoder models: `build_model(config, src_vocab_size, tgt_vocab_size)` assembles them."""

from seq2seq.models.decoder import DecoderState, Memory, StepOutput
from seq2seq.models.encoder import EncoderOutput, FinalState
from seq2seq.models.seq2seq import ModelOutput, Seq2Seq, build_model

__all__ = ["build_model", "Seq2Seq", "EncoderOutput", "FinalState", "DecoderState", "Memory",
           "StepOutput", "ModelOutput"]
