"""CTranslate2 for Transformer models: `convert` writes one (needs torch and ctranslate2), `model` runs one
(needs only ctranslate2: `pip install seq2seq[ctranslate2]`)."""
