"""Run directories and what lives in them: checkpoints (safetensors + JSON, checksummed), the bundle a checkpoint
rebuilds, averaging, ensembles, the trainer's lock, atomic writes and `seq2seq check`. One concept per module;
this package imports nothing itself, so that torch-free code (the ONNX engine, the command line) can read a run
directory without loading torch."""
