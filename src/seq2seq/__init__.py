"""seq2seq: encoder-decoder RNN models, from the fixed context vector to attention."""

__version__ = "0.1.0"
