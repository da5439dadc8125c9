"""Generation written once for every engine: greedy search, sampling and beam search over a small array
interface that PyTorch tensors and numpy arrays both satisfy (see `ops`), and the `Hypothesis` they return."""
