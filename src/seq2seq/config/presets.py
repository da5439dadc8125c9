"""Named architectures: the seeds' experiments and the papers' models, as bundles of config values."""

from __future__ import annotations

from typing import Any

# The textbook draws batches uniformly at random; length-bucketed batches of these short questions
# (3-7 characters) save little and measurably slowed learning (addition, epoch 10: 59-82% vs 93%).
_BOOK7 = {"model.cell": "lstm", "model.embedding_size": 16, "model.encoder_hidden": 128,
          "model.decoder_hidden": 128, "train.batch_size": 128, "train.clip_norm": 5.0, "train.bucket": False}

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("textbook ch. 7 seq2seq: LSTM, embedding 16, hidden 128, context via initial state", _BOOK7),
    "reverse": ("baseline with the source fed backwards", {**_BOOK7, "data.reverse_source": True}),
    "peeky": ("baseline with the context fed to every decoder step and output (peeky)",
              {**_BOOK7, "model.feed_context": "peeky"}),
    "reverse-peeky": ("reverse + peeky, the textbook's best ch. 7 model",
                      {**_BOOK7, "data.reverse_source": True, "model.feed_context": "peeky"}),
    "attention": ("textbook ch. 8: LSTM with dot attention, output on [c; h]",
                  {**_BOOK7, "model.embedding_size": 16, "model.encoder_hidden": 256,
                   "model.decoder_hidden": 256, "model.attention": "dot",
                   # Dates learn as fast from length-bucketed batches, and with most batches then
                   # free of padding the encoder skips packing: 1.66x faster steps on the book's dates.
                   "train.bucket": True}),
    "luong": ("Luong et al. 2015: bi-LSTM, general attention, tanh attentional state, input feeding",
              {"model.cell": "lstm", "model.bidirectional": True, "model.attention": "general",
               "model.attention_output": "tanh", "model.input_feeding": True, "model.bridge": "linear",
               "model.dropout": 0.2}),
    "bahdanau": ("Bahdanau et al. 2015: bi-GRU encoder, additive (concat) attention",
                 {"model.cell": "gru", "model.bidirectional": True, "model.attention": "concat",
                  "model.bridge": "linear", "model.dropout": 0.2}),
    "deep-residual": ("GNMT-like: 4+4 LSTM layers with residual connections and attention",
                      {"model.cell": "lstm", "model.encoder_layers": 4, "model.decoder_layers": 4,
                       "model.residual": True, "model.attention": "general", "model.bridge": "linear",
                       "model.dropout": 0.2}),
    "las": ("Listen, Attend and Spell (Chan et al. 2016): feature source, pyramidal bi-LSTM listener, "
            "concat-attention speller with input feeding",
            {"data.source_type": "features", "data.target_type": "tokens", "model.cell": "lstm",
             "model.embedding_size": 128, "model.encoder_hidden": 128, "model.decoder_hidden": 256,
             "model.pyramid_layers": 3, "model.bidirectional": True, "model.attention": "concat",
             "model.input_feeding": True, "model.bridge": "linear", "model.dropout": 0.1,
             "train.early_stopping_metric": "valid_cer",
             # Frames (10 ms each) far outnumber the characters spoken in them.
             "decode.max_length_a": 0.5}),
}
