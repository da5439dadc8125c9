"""Copy attention (the pointer-generator): the mixture over the extended vocabulary, extended ids read back as
<unk>, and a copy model's padding invariance, step path and decoding (learning to copy: slow, at the end)."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.config import DecodeConfig
from seq2seq.data.batching import collate
from seq2seq.data.copying import CopySourceSide, encode_pair
from seq2seq.data.sides import TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import UNK, Vocab
from seq2seq.decoding import beam_search, generate, greedy, sample
from seq2seq.models import build_model
from seq2seq.models.pointer import PointerGenerator

WORDS = build_tokenizer("word")
SOURCE = TokenSide(WORDS, Vocab.build([["pay", "to", "Ann", "gets", "Bo"]]))
TARGET = TokenSide(WORDS, Vocab.build([["gets", "to", "Ann"]]))
SIDE = CopySourceSide.around(SOURCE, TARGET.vocab)
V = len(TARGET.vocab)


def test_the_mixture_is_a_distribution_over_the_extended_vocabulary():
    torch.manual_seed(0)
    pointer = PointerGenerator(5, 3)
    logits, gate_in = torch.randn(2, 5), torch.randn(2, 3)
    weights = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]])
    source_map = torch.tensor([[5, 4, 6, 0], [7, 7, 1, 8]])  # row 1: position 0 and 1 are one word
    with torch.no_grad():
        logp = pointer(logits, gate_in, weights, source_map)
        p_gen = torch.sigmoid(pointer.gate(gate_in))
    assert logp.shape == (2, 9)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2))
    vocab = torch.softmax(logits, -1) * p_gen
    torch.testing.assert_close(logp[0, 4].exp(), vocab[0, 4] + (1 - p_gen[0, 0]) * 0.25)
    torch.testing.assert_close(logp[0, 5].exp(), (1 - p_gen[0, 0]) * 0.5)
    torch.testing.assert_close(logp[1, 7].exp(), (1 - p_gen[1, 0]) * 0.3)  # both positions of the word
    assert float(logp[0, 7]) < -20  # no source position maps there: floored, not -inf


def test_extended_ids_read_back_as_unk_and_sources_are_checked():
    pointer = PointerGenerator(5, 3)
    assert pointer.known(torch.tensor([4, 5, 9, 2])).tolist() == [4, UNK, UNK, 2]
    with pytest.raises(ValueError, match=r"src of a copy model must be \(batch, length, 2\)"):
        pointer.split(torch.zeros(2, 3, dtype=torch.long))


def _model(seed=0, **extra):
    cfg = build_config(overrides={"model.copy": True, "model.attention": "concat", "model.embedding_size": 8,
                                  "model.encoder_hidden": 16, "model.decoder_hidden": 16, "model.bridge": "zero",
                                  **extra})
    torch.manual_seed(seed)
    return build_model(cfg.model, SOURCE.size, V).eval()


PAIRS = [("pay Zed to Ann", "Ann gets Zed"), ("Bo", "Bo"), ("pay Kim Lu to Bo Kim", "Bo gets Kim Lu Kim to")]


@pytest.mark.parametrize("extra", [{}, {"model.input_feeding": True, "model.attention": "location"},
                                   {"model.attention": "general", "model.attention_heads": 2}],
                         ids=["concat", "location-feeding", "two-heads"])
def test_copy_model_padding_invariance_and_step_path(extra):
    model = _model(**extra)
    examples = [encode_pair(SIDE, TARGET, s, t) for s, t in PAIRS]
    batch = collate(examples, SIDE, TARGET)
    assert batch.src.shape[-1] == 2 and int(batch.tgt_out.max()) >= V  # copied words are extended ids
    with torch.no_grad():
        out = model(batch.src, batch.src_lengths, batch.tgt_in)
        assert out.scores.shape == (3, batch.tgt_in.size(1), V + batch.src.size(1))
        torch.testing.assert_close(out.scores.exp().sum(-1), torch.ones(out.scores.shape[:2]))
        for i, example in enumerate(examples):
            one = collate([example], SIDE, TARGET)
            alone = model(one.src, one.src_lengths, one.tgt_in)
            t, s = one.tgt_in.size(1), one.src.size(1)
            torch.testing.assert_close(alone.scores[0, :, :V + s], out.scores[i, :t, :V + s], atol=1e-5, rtol=1e-5)
        state, memory = model.init_state(model.encode(batch.src, batch.src_lengths))
        for t in range(batch.tgt_in.size(1)):
            step = model.step(batch.tgt_in[:, t], state, memory)
            torch.testing.assert_close(step.scores, out.scores[:, t], atol=1e-5, rtol=1e-5)
            state = step.state
    out = model.train()(batch.src, batch.src_lengths, batch.tgt_in)
    loss, n = model.loss(out.scores, batch.tgt_out, label_smoothing=0.1)
    assert n == int(batch.tgt_lengths.sum()) and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_every_search_decodes_a_copy_model_and_beam_one_is_greedy():
    model = _model(seed=1)
    sources = [SIDE.encode(s) for s, _ in PAIRS]
    src, lengths = SIDE.pad(sources)
    options = DecodeConfig(max_length=6)
    g = greedy(model, src, lengths, options)
    b = beam_search(model, src, lengths, DecodeConfig(strategy="beam", beam_size=1, max_length=6))
    assert [h.output for h in g] == [h[0].output for h in b]
    assert len(sample(model, src, lengths, DecodeConfig(strategy="sample", max_length=6))) == 3
    wide = beam_search(model, src, lengths, DecodeConfig(strategy="beam", beam_size=4, nbest=4, max_length=6))
    assert all(len(h) == 4 for h in wide)
    for i, source in enumerate(sources):  # each sentence alone decodes as in the padded batch
        one, n = SIDE.pad([source])
        assert greedy(model, one, n, options)[0].output == g[i].output
    for hyps, row in zip(generate(model, SIDE, sources, options), sources):
        # generated extended ids come back as the source words they stand for
        assert all(isinstance(i, int) and i < V or i in row.words for i in hyps[0].output)


@pytest.mark.slow
def test_out_of_vocabulary_names_come_out_verbatim_with_copy_and_not_without(tmp_path):
    import seq2seq

    results = {}
    for copy in (True, False):
        cfg = build_config("bahdanau", overrides={
            "data.task": "names", "data.train_size": 2000, "data.valid_size": 50, "data.test_size": 0,
            "model.embedding_size": 32, "model.encoder_hidden": 64, "model.decoder_hidden": 64, "model.copy": copy,
            "train.epochs": 4, "train.batch_size": 32, "train.lr": 0.005, "train.threads": 1, "model.dropout": 0.0})
        seq2seq.train(cfg, tmp_path / str(copy), quiet=True)
        model = seq2seq.load(tmp_path / str(copy))
        # names no training sentence holds (the task's syllables never make these)
        inputs = ["pay 31337 to Qwyx Jhorbel", "Xyqo moved from Wrenth to Chyvv", "call Yggdra at 80085"]
        results[copy] = [h[0].text for h in model.translate(inputs)]
    assert results[True] == ["Qwyx Jhorbel gets 31337", "Xyqo left Wrenth for Chyvv", "number of Yggdra is 80085"]
    # without copy the names are out of the target vocabulary: no output holds any of them
    names = {"Qwyx", "Jhorbel", "Xyqo", "Wrenth", "Chyvv", "Yggdra"}
    assert not names & {word for text in results[False] for word in text.split()}, results[False]
