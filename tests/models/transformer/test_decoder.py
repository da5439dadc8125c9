"""The Transformer decoder and the models around it (both sides Transformers, and the hybrids): the step path
with its key/value cache equals the whole-sequence path, a batch equals its rows one by one (padding changes
nothing), the state is a value, and every weight learns."""

import torch

from seq2seq.models.transformer import TransformerDecoder, TransformerMemory, TransformerState


def test_step_path_equals_the_sequence_path(architecture, make_model, make_batch):
    model = make_model(architecture)
    src, src_len, tgt_in, _ = make_batch(model)
    with torch.no_grad():
        out = model(src, src_len, tgt_in)
        state, memory = model.init_state(model.encode(src, src_len))
        prev = model.head.teacher_inputs(tgt_in)
        for t in range(tgt_in.size(1)):
            step = model.step(prev[:, t], state, memory)
            state = step.state
            torch.testing.assert_close(step.scores, out.scores[:, t], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(step.attention, out.attention[:, t], atol=1e-5, rtol=1e-5)
            if isinstance(model.decoder, TransformerDecoder):
                assert step.head_attention.shape == (3, model.config.transformer_heads, out.attention.size(2))
                torch.testing.assert_close(step.head_attention.mean(1), step.attention)
                assert state.position == t + 1
                shape = (model.config.decoder_layers, 3, model.config.transformer_heads, t + 1)
                assert state.keys.shape[:4] == state.values.shape[:4] == shape  # one position more per step
            else:
                assert step.head_attention is None


def test_a_batch_equals_its_rows_one_by_one(architecture, make_model, make_batch):
    model = make_model(architecture)
    src, src_len, tgt_in, tgt_len = make_batch(model)
    with torch.no_grad():
        out = model(src, src_len, tgt_in)
        steps = out.attention.size(2)
        for i in range(3):
            s, t = int(src_len[i]), int(tgt_len[i])
            alone = model(src[i:i + 1, :s], src_len[i:i + 1], tgt_in[i:i + 1, :t])
            torch.testing.assert_close(alone.scores[0], out.scores[i, :t], atol=1e-5, rtol=1e-5)
            real = alone.attention.size(2)
            torch.testing.assert_close(alone.attention[0], out.attention[i, :t, :real], atol=1e-5, rtol=1e-5)
            assert torch.all(out.attention[i, :t, real:steps] == 0)  # padding gets no attention


def test_every_weight_gets_a_gradient(architecture, make_model, make_batch):
    model = make_model(architecture).train()
    src, src_len, tgt_in, tgt_len = make_batch(model)
    out = model(src, src_len, tgt_in)
    if model.head.kind == "features":
        tgt_out = torch.randn(3, 6, 3)
        tgt_out[torch.arange(6)[None] >= tgt_len[:, None]] = float("nan")
    else:
        tgt_out = torch.randint(4, 11, (3, 6))
        tgt_out[torch.arange(6)[None] >= tgt_len[:, None]] = 0
    loss, _ = model.loss(out.scores, tgt_out)
    loss.backward()
    for param_name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), param_name
        assert p.grad.abs().sum() > 0, f"{param_name} has an all-zero gradient"


def test_decoding_on_from_a_prefix_equals_decoding_it_all(make_model, make_batch):
    model = make_model("transformer")
    src, src_len, tgt_in, _ = make_batch(model)
    with torch.no_grad():
        state, memory = model.init_state(model.encode(src, src_len))
        whole, attention, end = model.decoder.forward_sequence(tgt_in, state, memory)
        first, _, middle = model.decoder.forward_sequence(tgt_in[:, :2], state, memory)
        rest, rest_attention, end2 = model.decoder.forward_sequence(tgt_in[:, 2:], middle, memory)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rest_attention, attention[:, 2:], atol=1e-5, rtol=1e-5)
    assert middle.position == 2 and end.position == end2.position == 6
    torch.testing.assert_close(end.keys, end2.keys, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(end.values, end2.values, atol=1e-5, rtol=1e-5)


def test_state_and_memory_are_values_with_index_select(make_model, make_batch):
    model = make_model("transformer")
    src, src_len, tgt_in, _ = make_batch(model)
    with torch.no_grad():
        state, memory = model.init_state(model.encode(src, src_len))
        assert isinstance(state, TransformerState) and isinstance(memory, TransformerMemory)
        step = model.step(tgt_in[:, 0], state, memory)
        assert state.position == 0 and state.keys.size(3) == state.values.size(3) == 0  # not mutated
        idx = torch.tensor([2, 0, 0])
        picked, picked_memory = step.state.index_select(idx), memory.index_select(idx)
        assert picked.position == 1 and torch.equal(picked_memory.mask, memory.mask[idx])
        again = model.step(tgt_in[idx, 1], picked, picked_memory)
        reference = model.step(tgt_in[:, 1], step.state, memory)
    torch.testing.assert_close(again.scores, reference.scores[idx])
    torch.testing.assert_close(again.head_attention, reference.head_attention[idx])


def test_the_bridge_exists_only_for_a_recurrent_decoder(make_model):
    assert make_model("transformer").bridge is None
    assert make_model("bilstm-encoder+transformer").bridge is None
    lstm = make_model("transformer-encoder+lstm-luong")
    assert lstm.bridge.kind == "linear" and lstm.bridge.hidden_proj.in_features == 8  # one pooled vector
