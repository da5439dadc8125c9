"""Every token preset learns to reverse short letter sequences to exact match (trains: slow)."""

import time

import pytest
import torch

from seq2seq import build_config
from seq2seq.config import PRESETS
from seq2seq.models import build_model

pytestmark = pytest.mark.slow

BOS, EOS = 2, 3
N_LETTERS = 8
STEPS = {"deep-residual": 1200}


def _reverse_task(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 9, (n,), generator=g)
    src = torch.zeros(n, 8, dtype=torch.long)
    tgt_in = torch.zeros(n, 9, dtype=torch.long)
    tgt_out = torch.zeros(n, 9, dtype=torch.long)
    for i, length in enumerate(lengths.tolist()):
        s = torch.randint(4, 4 + N_LETTERS, (length,), generator=g)
        src[i, :length] = s
        tgt_in[i, :length + 1] = torch.cat([torch.tensor([BOS]), s.flip(0)])
        tgt_out[i, :length + 1] = torch.cat([s.flip(0), torch.tensor([EOS])])
    return src, lengths, tgt_in, tgt_out


def _greedy(model, src, src_len, max_len):
    state, memory = model.init_state(model.encode(src, src_len))
    prev = torch.full((src.size(0),), BOS)
    out = []
    for _ in range(max_len):
        step = model.step(prev, state, memory)
        state, prev = step.state, step.scores.argmax(-1)
        out.append(prev)
    return torch.stack(out, 1)


def _exact_match(pred, tgt_out):
    real = tgt_out != 0
    return ((pred == tgt_out) | ~real).all(1).float().mean().item()


@pytest.mark.parametrize("preset", [p for p, (_, v) in PRESETS.items()
                                    if v.get("data.source_type", "tokens") == "tokens"])  # las reads features
def test_preset_learns_reverse(preset):
    kinds = build_config(preset).model
    overrides = {"model.embedding_size": 32, "model.dropout": 0.0}
    if kinds.encoder_type == "rnn":
        overrides["model.encoder_hidden"] = 64
    if kinds.decoder_type == "rnn":
        overrides["model.decoder_hidden"] = 64
    if "transformer" in (kinds.encoder_type, kinds.decoder_type):
        overrides.update({"model.transformer_size": 32, "model.transformer_ff_size": 64,
                          "model.attention_dropout": 0.0})
    cfg = build_config(preset, overrides=overrides)
    torch.manual_seed(0)
    model = build_model(cfg.model, 4 + N_LETTERS, 4 + N_LETTERS)
    src, src_len, tgt_in, tgt_out = _reverse_task()
    if cfg.data.reverse_source:  # what the data package does for `reverse` presets
        src = torch.stack([torch.cat([s[:n].flip(0), s[n:]]) for s, n in zip(src, src_len.tolist())])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3 if preset == "deep-residual" else 1e-2)
    start, match = time.perf_counter(), 0.0
    for step in range(1, STEPS.get(preset, 600) + 1):
        model.train()
        loss, n = model.loss(model(src, src_len, tgt_in).scores, tgt_out)
        opt.zero_grad()
        (loss / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 25 == 0:
            model.eval()
            with torch.no_grad():
                match = _exact_match(_greedy(model, src, src_len, 9), tgt_out)
            if match == 1.0:
                break
    print(f"{preset}: exact match {match:.2f} after {step} steps, {time.perf_counter() - start:.1f}s")
    assert match == 1.0, f"{preset}: exact match {match:.2f} after {step} steps"
