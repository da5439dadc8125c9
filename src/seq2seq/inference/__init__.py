"""Using a trained model: `load` (the engine-choosing front door), the PyTorch `Model`, and the `Translator` both
engines share (raw inputs -> encoded sources -> hypotheses -> `Translation`s). This package imports nothing
itself, so that `seq2seq.load` of an exported model needs no torch."""
