"""Input reversal: the encoder reads the source backwards; cutting and attention stay in reading order."""

import numpy as np
import torch

from seq2seq.data.reversal import InputReversal


def test_disabled_is_the_identity():
    off = InputReversal()
    ids = [4, 5, 6]
    assert off.enabled is False and off.apply(ids) is ids
    assert off.keep_first(ids, 2) == [4, 5]
    att = torch.rand(2, 3)
    assert off.reading_order(att) is att


def test_apply_reverses_lists_and_arrays():
    on = InputReversal(True)
    assert on.apply([4, 5, 6]) == [6, 5, 4]
    arr = np.arange(6).reshape(3, 2)
    assert on.apply(arr).tolist() == [[4, 5], [2, 3], [0, 1]]  # steps reversed, each vector kept
    assert on.apply(on.apply([1, 2, 3])) == [1, 2, 3]


def test_keep_first_cuts_in_reading_order():
    text = [1, 2, 3, 4, 5]
    for enabled in (False, True):
        r = InputReversal(enabled)
        # cutting the encoded sequence keeps the same steps as cutting the text first
        assert r.keep_first(r.apply(text), 3) == r.apply(text[:3])
        assert r.keep_first(r.apply(text), 10) == r.apply(text)


def test_reading_order_of_attention():
    on = InputReversal(True)
    # attention over the reversed source [c, b, a]: step 0 looks at `a`, the encoder's last position
    att = torch.tensor([[0.0, 0.25, 0.75], [0.5, 0.25, 0.25]])
    assert on.reading_order(att).tolist() == [[0.75, 0.25, 0.0], [0.25, 0.25, 0.5]]
    assert on.reading_order(torch.rand(2, 4, 3)).shape == (2, 4, 3)


def test_value_semantics():
    assert InputReversal(True) == InputReversal(True) != InputReversal(False)
    assert hash(InputReversal(True)) == hash(InputReversal(True))
