"""Named architectures: the models of Saito's Deep Learning from Scratch 2 (ch. 7-8) and of the papers, as
bundles of config values."""

from __future__ import annotations

from typing import Any

# The book draws batches uniformly at random; length-bucketed batches of these short questions save little
# and learned more slowly, and on dates they made accuracy depend on the seed and the matmul kernel, since
# months sharing letters land in the same batches (measurements: CHANGELOG.md, 0.2.0).
# Saito, Deep Learning from Scratch 2, ch. 7: its sizes and batches; the book's encoder hands its decoder h
# alone (bridge `hidden`).
_SAITO_CH7 = {"model.cell": "lstm", "model.embedding_size": 16, "model.encoder_hidden": 128,
               "model.decoder_hidden": 128, "model.bridge": "hidden", "train.batch_size": 128, "train.clip_norm": 5.0,
               "train.bucket": False}

# Both sides Transformers (Vaswani et al. 2017), pre-norm; the learning rate warms up linearly, then decays as
# 1 / sqrt(step) (train.lr is the peak), with label smoothing 0.1 as in the paper.
_TRANSFORMER = {"model.encoder_type": "transformer", "model.decoder_type": "transformer",
                "model.tie_embeddings": True, "train.schedule": "inverse_sqrt", "train.label_smoothing": 0.1}

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("Saito's Deep Learning from Scratch 2, ch. 7 seq2seq: LSTM, embedding 16, hidden 128, context via "
                 "initial state", _SAITO_CH7),
    "reverse": ("baseline with the source fed backwards", {**_SAITO_CH7, "data.reverse_source": True}),
    "peeky": ("baseline with the context fed to every decoder step and output (peeky)",
              {**_SAITO_CH7, "model.feed_context": "peeky"}),
    "reverse-peeky": ("reverse + peeky, the book's best ch. 7 model",
                      {**_SAITO_CH7, "data.reverse_source": True, "model.feed_context": "peeky"}),
    "attention": ("the book's ch. 8: LSTM with dot attention, output on [c; h]",
                  {**_SAITO_CH7, "model.embedding_size": 16, "model.encoder_hidden": 256,
                   "model.decoder_hidden": 256, "model.attention": "dot",
                   # the state handed over whole: the date demo's margin was measured with it
                   "model.bridge": "copy"}),
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
    # Dropout 0.3 as fairseq's Transformer for IWSLT'14 (160k pairs): a corpus this small overfits at 0.1.
    "transformer": ("Transformer for Multi30k-size data (30k pairs): 3+3 layers of 256, 4 heads, feed-forward "
                    "1024, dropout 0.3, batches of 2,048 tokens, warm-up 400 steps",
                    {**_TRANSFORMER, "model.embedding_size": 256, "model.transformer_size": 256,
                     "model.transformer_heads": 4, "model.transformer_ff_size": 1024, "model.encoder_layers": 3,
                     "model.decoder_layers": 3, "model.dropout": 0.3, "model.attention_dropout": 0.1,
                     "train.batch_by": "tokens", "train.batch_size": 2048, "train.warmup_steps": 400,
                     "train.lr": 1e-3}),
    "transformer-tiny": ("Transformer for the built-in tasks: 2+2 layers of 64, 4 heads, feed-forward 256",
                         {**_TRANSFORMER, "model.embedding_size": 64, "model.transformer_size": 64,
                          "model.transformer_heads": 4, "model.transformer_ff_size": 256,
                          "model.encoder_layers": 2, "model.decoder_layers": 2, "train.warmup_steps": 200,
                          "train.lr": 3e-3}),
    "speech-transformer": ("the Transformer counterpart of las (Dong et al. 2018): feature source, 3 strided "
                           "convolutions (8x fewer steps) under a 4-layer Transformer encoder, 2-layer decoder",
                           {**_TRANSFORMER, "data.source_type": "features", "data.target_type": "tokens",
                            "model.subsample_layers": 3, "model.embedding_size": 128, "model.transformer_size": 128,
                            "model.transformer_heads": 4, "model.transformer_ff_size": 512,
                            "model.encoder_layers": 4, "model.decoder_layers": 2, "model.dropout": 0.1,
                            "train.warmup_steps": 400, "train.lr": 2e-3,
                            "train.early_stopping_metric": "valid_cer", "decode.max_length_a": 0.5}),
}
