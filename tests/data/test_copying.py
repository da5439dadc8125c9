"""The data side of copy attention: extended ids per sentence, targets naming copyable words, padding into
(B, S, 2), resolving generated ids back into words, and the sides a copy model's config builds."""

import torch

from seq2seq import build_config
from seq2seq.data.copying import CopySource, CopySourceSide, encode_pair, resolve
from seq2seq.data.corpus import build_sides, encode_pairs, load_sides
from seq2seq.data.reversal import InputReversal
from seq2seq.data.sides import TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import PAD, UNK, Vocab

WORDS = build_tokenizer("word")
TARGET = TokenSide(WORDS, Vocab.build([["gets", "to", "pay", "Ann"]]))  # ids 4.. : gets to pay Ann
SOURCE = TokenSide(WORDS, Vocab.build([["pay", "to", "Ann", "Bo"]]))
V = len(TARGET.vocab)


def _side(reverse=False):
    source = TokenSide(WORDS, SOURCE.vocab, InputReversal(reverse))
    return CopySourceSide.around(source, TARGET.vocab)


def test_words_outside_the_target_vocabulary_get_their_first_position():
    encoded = _side().encode("pay Zed to Bo Zed Ann")
    assert isinstance(encoded, CopySource) and len(encoded) == 6
    assert encoded.words == ("pay", "Zed", "to", "Bo", "Zed", "Ann")
    assert list(encoded.ids) == SOURCE.vocab.encode(encoded.words)  # Zed is <unk> to the encoder
    ids = TARGET.vocab.encode
    assert encoded.extended == [ids(["pay"])[0], V + 1, ids(["to"])[0], V + 3, V + 1, ids(["Ann"])[0]]


def test_reversal_numbers_positions_as_the_encoder_reads_and_slices_renumber():
    encoded = _side(reverse=True).encode("pay Zed to Bo")
    assert encoded.words == ("Bo", "to", "Zed", "pay") and encoded.extended[0] == V and encoded.extended[2] == V + 2
    kept = encoded[-2:]  # what truncation to the first two words in reading order keeps
    assert kept.words == ("Zed", "pay") and kept.extended[0] == V


def test_targets_name_copyable_words_by_their_extended_id():
    side = _side()
    source, target = encode_pair(side, TARGET, "pay Zed to Bo", "Bo gets Zed Kim")
    assert target == [V + 3, TARGET.vocab.encode(["gets"])[0], V + 1, UNK]  # Kim is in neither: <unk>
    assert resolve(side, target, source) == ["Bo", target[1], "Zed", UNK]
    assert TARGET.decode(resolve(side, target, source)) == "Bo gets Zed <unk>"
    plain = encode_pair(SOURCE, TARGET, "pay Zed", "Zed gets")
    assert plain == (SOURCE.encode("pay Zed"), TARGET.encode("Zed gets"))
    assert resolve(SOURCE, [V + 1, 4], plain[0]) == [V + 1, 4]  # not a copy model: ids stay ids


def test_resolve_maps_positions_past_the_sentence_to_unk():
    side = _side()
    source = side.encode("pay Zed")
    assert side.resolve([V + 1, V + 7, 4], source) == ["Zed", UNK, 4]


def test_pad_puts_each_source_id_beside_its_extended_id():
    side = _side()
    rows = [side.encode("pay Zed to"), side.encode(""), side.encode("Ann")]
    src, lengths = side.pad(rows)
    assert src.shape == (3, 3, 2) and lengths.tolist() == [3, 1, 1]
    assert src[0, :, 0].tolist() == list(rows[0].ids) and src[0, :, 1].tolist() == rows[0].extended
    assert torch.all(src[1] == PAD) and src[2, 1:].eq(PAD).all()


def test_a_copy_config_wraps_the_source_side_and_loads_it_back(tmp_path):
    cfg = build_config(overrides={"model.copy": True, "model.attention": "general", "data.tokenizer": "word",
                                  "data.max_vocab_size": 6})
    train = [("pay Ann 5", "Ann gets 5"), ("pay Ann 7", "Ann gets 7")]
    source, target = build_sides(cfg, train)
    assert isinstance(source, CopySourceSide) and source.target_vocab is target.vocab
    assert target.vocab.tokens[4:] == ["Ann", "gets"]
    (s, t), = encode_pairs([("pay Bo 9", "Bo gets 9")], source, target)
    assert t == [len(target.vocab) + 1, target.vocab.encode(["gets"])[0], len(target.vocab) + 2]
    source.save(tmp_path, "source")
    target.save(tmp_path, "target")
    again, _ = load_sides(cfg, tmp_path)
    assert isinstance(again, CopySourceSide) and again.encode("pay Bo 9") == s
