"""The kernel probe: choices follow the measurement, forced modes measure nothing, the cache is keyed by machine
and shape and reused, a corrupt or unwritable cache costs only a new measurement."""

import json

import pytest
import torch
import torch.nn.functional as F

import seq2seq.models.linear as lin
from seq2seq.config import ConfigError
from seq2seq.kernels import cache, machine, probe
from seq2seq.models import kernel_plan
from seq2seq.models.cells import takes_onednn_cell

needs_kernel = pytest.mark.skipif(lin._OP is None, reason="this torch build has no oneDNN linear kernel")


class FakeTimer:
    """Times by candidate name instead of the clock: {name: ms}; counts the classes it was asked about."""

    def __init__(self, ms):
        self.ms, self.calls = ms, []

    def __call__(self, thunks, budget):
        names = [n for n in thunks if not n.startswith("_")]
        self.calls.append(names)
        if "_close" in thunks:
            thunks["_close"]()
        return {n: self.ms.get(n, 1.0) for n in names}


def _model(tiny_bundle, hidden=64):
    """A luong model big enough for oneDNN's kernel to apply to its layers (embedding 32, hidden `hidden`)."""
    return tiny_bundle("luong", [f"model.encoder_hidden={hidden}", f"model.decoder_hidden={hidden}",
                                 "model.embedding_size=32", "model.encoder_layers=2"]).model


def _train(mode="auto", rows=(64, 640), lengths=(7, 5, 5, 3)):
    return {"mode": mode, "rows": rows, "lengths": list(lengths) * 16, "optimizer": "adam"}


def _decode(mode="auto"):
    return {"mode": mode, "rows": (64, 320)}


CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    """Every test measures into a cache of its own, in `auto` mode (the suite's default is forced)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SEQ2SEQ_KERNELS", raising=False)


@needs_kernel
def test_a_resumed_run_keeps_its_pinned_kernels_without_measuring(tiny_bundle):
    model = _model(tiny_bundle)
    first = probe.probe(model, CPU, train=_train(), decode=_decode(),
                        timer=FakeTimer({"blas": 1.0, "onednn": 2.0, "packed": 1.0, "segmented": 3.0}))
    assert first.choices and set(first.choices.values()) <= {"blas", "onednn", "packed", "segmented", "fused",
                                                              "foreach"}
    pinned = {key: ("onednn" if choice == "blas" else choice) for key, choice in first.choices.items()}
    timer = FakeTimer({"blas": 1.0, "onednn": 2.0})
    again = probe.probe(model, CPU, train=_train(), decode=_decode(), timer=timer, pinned=pinned)
    assert timer.calls == []
    assert again.choices == pinned
    assert {d.source for d in again.decisions} == {"kept from the run"}


def test_seq2seq_kernels_replaces_auto_and_a_bad_value_is_refused(tiny_bundle, monkeypatch):
    model = _model(tiny_bundle)
    monkeypatch.setenv("SEQ2SEQ_KERNELS", "blas")
    timer = FakeTimer({})
    report = probe.probe(model, CPU, train=_train(), decode=_decode(), timer=timer)
    assert report.modes == {"train": "blas", "decode": "blas"} and timer.calls == []
    monkeypatch.setenv("SEQ2SEQ_KERNELS", "fast")
    with pytest.raises(ConfigError, match="SEQ2SEQ_KERNELS='fast'"):
        probe.probe(model, CPU, train=_train(), decode=_decode(), timer=timer)


@needs_kernel
@pytest.mark.parametrize("faster", ["onednn", "blas"])
def test_the_choice_follows_the_measurement(tiny_bundle, faster):
    model = _model(tiny_bundle)
    slower = {"onednn": "blas", "blas": "onednn"}[faster]
    timer = FakeTimer({faster: 1.0, slower: 2.0, "segmented": 1.0, "packed": 3.0, "fused": 4.0, "foreach": 1.0})
    report = probe.probe(model, CPU, train=_train(), decode=_decode(), timer=timer)
    kinds = {d.kind for d in report.decisions}
    assert kinds == {"linear", "cell", "rnn", "adam"}
    for d in report.decisions:
        assert d.source == "measured"
        assert d.choice == {"linear": faster, "cell": faster, "rnn": "segmented", "adam": "foreach"}[d.kind]
    assert report.choice("adam", "fused") == "foreach"
    w = next(m.weight for m in model.modules() if isinstance(m, lin.Linear))
    x = torch.randn(64, w.size(1))
    with torch.enable_grad():
        assert lin.takes_onednn(x, w) == (faster == "onednn")
    with torch.no_grad():
        assert lin.takes_onednn(x, w) == (faster == "onednn")
    assert f"{faster} (2.00x faster, measured)" in "\n".join(report.lines())


@needs_kernel
def test_a_phase_is_decided_apart_from_the_other(tiny_bundle):
    model = _model(tiny_bundle)
    # the same shapes: training measured BLAS faster, generation oneDNN
    timer = FakeTimer({"onednn": 1.0, "blas": 2.0})
    probe.probe(model, CPU, decode=_decode(), timer=timer)
    probe.probe(model, CPU, train=_train("blas"), timer=FakeTimer({}))
    w = next(m.weight for m in model.modules() if isinstance(m, lin.Linear))
    x = torch.randn(64, w.size(1))
    with torch.enable_grad():
        assert not lin.takes_onednn(x, w)
    with torch.no_grad():
        assert lin.takes_onednn(x, w)


@needs_kernel
@pytest.mark.parametrize("mode", ["onednn", "blas"])
def test_forced_modes_measure_nothing_and_are_honoured(tiny_bundle, mode):
    model = _model(tiny_bundle)
    timer = FakeTimer({})
    report = probe.probe(model, CPU, train=_train(mode), decode=_decode(mode), timer=timer)
    assert timer.calls == [] and report.decisions == []
    assert report.choice("adam", "fused") == "fused"
    assert f"every linear layer and cell step on {mode} (forced)" in "\n".join(report.lines())
    x, w = torch.randn(64, 64), torch.randn(256, 64)
    h = torch.randn(64, 64)
    weights = (w, torch.randn(256, 64), torch.randn(256), torch.randn(256))
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            assert lin.takes_onednn(x, w) == (mode == "onednn")
            assert takes_onednn_cell("lstm", x, h, weights) == (mode == "onednn")


def test_a_bad_mode_is_refused():
    with pytest.raises(ValueError, match="allowed: auto, onednn, blas"):
        probe.probe(torch.nn.Linear(2, 2), CPU, decode={"mode": "fast", "rows": (1, 1)})


@needs_kernel
def test_the_cache_is_reused_and_keyed_by_machine(tiny_bundle, monkeypatch, tmp_path):
    model = _model(tiny_bundle)
    first = FakeTimer({"onednn": 2.0, "blas": 1.0})
    probe.probe(model, CPU, train=_train(), decode=_decode(), timer=first)
    measured = len(first.calls)
    assert measured > 0
    data = json.loads((tmp_path / "seq2seq" / "kernels.json").read_text())
    assert list(data["machines"]) == [machine.fingerprint()]
    for _ in range(probe.RUNS - 1):  # the next starts measure again, until each class has RUNS runs
        later = FakeTimer({"onednn": 2.0, "blas": 1.0})
        probe.probe(model, CPU, train=_train(), decode=_decode(), timer=later)
        assert len(later.calls) == measured
    again = FakeTimer({"onednn": 1.0, "blas": 2.0})
    report = probe.probe(model, CPU, train=_train(), decode=_decode(), timer=again)
    assert again.calls == []
    assert {d.source for d in report.decisions} == {f"cached, {probe.RUNS} runs"}
    assert {d.choice for d in report.decisions if d.kind == "linear"} == {"blas"}
    # another shape class (other lengths) is measured; the ones seen stay cached
    third = FakeTimer({})
    probe.probe(model, CPU, train=_train(lengths=(9, 8)), timer=third)
    assert 0 < len(third.calls) < measured
    # another machine (here: instructions restricted for the process) measures everything again
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    fourth = FakeTimer({})
    probe.probe(model, CPU, train=_train(), decode=_decode(), timer=fourth)
    assert len(fourth.calls) == measured
    assert len(json.loads((tmp_path / "seq2seq" / "kernels.json").read_text())["machines"]) == 2


@needs_kernel
def test_a_later_start_refines_a_cached_measurement(tiny_bundle):
    model = _model(tiny_bundle)
    probe.probe(model, CPU, decode=_decode(), timer=FakeTimer({"onednn": 2.0, "blas": 1.0}))
    # a busy machine slowed oneDNN the first time: its faster time now wins, kept with the BLAS's earlier one
    report = probe.probe(model, CPU, decode=_decode(), timer=FakeTimer({"onednn": 0.5, "blas": 1.5}))
    for d in report.decisions:
        assert d.choice == "onednn" and d.ms == {"onednn": 0.5, "blas": 1.0} and d.source == "measured, 2 runs"


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]", b'{"version": 1, "machines": {"x": 3}}',
                                     b'{"version": 99, "machines": {}}'])
def test_a_corrupt_cache_is_ignored_and_rewritten(tiny_bundle, monkeypatch, tmp_path, content):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "seq2seq" / "kernels.json"
    path.parent.mkdir()
    path.write_bytes(content)
    timer = FakeTimer({"fused": 1.0, "foreach": 2.0})
    report = probe.probe(_model(tiny_bundle), CPU, train=_train(), timer=timer)
    assert timer.calls and all(d.source == "measured" for d in report.decisions)
    data = json.loads(path.read_text())
    assert data["version"] == cache.VERSION and machine.fingerprint() in data["machines"]
    assert not list(path.parent.glob(".kernels-*"))  # no temporary file left


def test_a_bad_cache_entry_is_measured_again(tiny_bundle):
    model = _model(tiny_bundle)
    for _ in range(probe.RUNS):
        probe.probe(model, CPU, train=_train(), timer=FakeTimer({}))
    data = cache.read_cache()
    table = data["machines"][machine.fingerprint()]
    key = next(iter(table))
    table[key] = {"choice": "quick", "ms": {}}
    cache.write_cache(data)
    timer = FakeTimer({})
    report = probe.probe(model, CPU, train=_train(), timer=timer)
    assert len(timer.calls) == 1
    assert sorted(d.source for d in report.decisions)[-1] == "measured"


def test_an_unwritable_cache_costs_only_the_measurement(tiny_bundle, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    for _ in range(2):
        timer = FakeTimer({})
        probe.probe(_model(tiny_bundle), CPU, train=_train(), timer=timer)
        assert timer.calls


def test_the_cache_stays_bounded(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = cache.read_cache()
    for m in range(cache.MAX_MACHINES + 5):
        cache.store(data, f"m{m}", {f"k{k}": {"choice": "a", "ms": {"a": 1, "b": 2}}
                                    for k in range(cache.MAX_ENTRIES + 3)})
    assert len(data["machines"]) == cache.MAX_MACHINES
    assert all(len(t) == cache.MAX_ENTRIES for t in data["machines"].values())
    assert f"m{cache.MAX_MACHINES + 4}" in data["machines"] and "m0" not in data["machines"]


@needs_kernel
def test_measuring_stops_at_the_budget(tiny_bundle):
    model = _model(tiny_bundle)

    def slow(thunks, budget):
        import time
        time.sleep(0.05)
        return {n: 1.0 for n in thunks if not n.startswith("_")}

    report = probe.probe(model, CPU, train=_train(), decode=_decode(), timer=slow, budget=0.01)
    sources = [d.source for d in report.decisions]
    assert sources.count("measured") == 1 and sources.count("not measured: probe time limit") == len(sources) - 1
    assert next(d.kind for d in report.decisions if d.source == "measured") == "adam"  # the cheapest goes first
    limited = [d for d in report.decisions if d.source.startswith("not measured")]
    assert all(d.choice in ("onednn", "segmented", "fused") for d in limited)  # the built-in defaults


@needs_kernel
def test_the_real_timer_measures_the_model(tiny_bundle):
    report = probe.probe(_model(tiny_bundle, hidden=128), CPU, train=_train(), decode=_decode())
    assert report.decisions[0].source == "measured"
    for d in report.decisions:
        if d.source == "measured":
            assert d.choice in d.ms and all(v > 0 for v in d.ms.values())
        else:  # what the second did not reach keeps its built-in kernel
            assert d.source == "not measured: probe time limit" and d.choice in ("onednn", "segmented", "fused")


def test_the_env_switch_turns_the_linear_path_off(tiny_bundle, monkeypatch):
    monkeypatch.setattr(lin, "ENABLED", False)
    timer = FakeTimer({})
    report = probe.probe(_model(tiny_bundle), CPU, train=_train(), decode=_decode(), timer=timer)
    assert {d.kind for d in report.decisions} <= {"rnn", "adam"}
    assert "SEQ2SEQ_ONEDNN_LINEAR=0" in report.lines()[0]
    assert not lin.takes_onednn(torch.randn(64, 64), torch.randn(256, 64))


def test_other_devices_keep_torch_kernels():
    report = probe.probe(torch.nn.Linear(2, 2), torch.device("meta"), decode=_decode(), timer=FakeTimer({}))
    assert report.decisions == [] and "probe measures CPU kernels" in report.lines()[0]


def test_the_machine_line_names_cpu_isa_and_libraries(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    line = machine.describe()
    assert machine.cpu_model() in line and f"torch {torch.__version__}" in line
    assert "oneDNN" in line and "restricted: ONEDNN_MAX_CPU_ISA=AVX2" in line
    assert all(name in line for name in machine.isa())


def test_kernels_keys_are_validated():
    from seq2seq import build_config
    from seq2seq.config import ConfigError

    assert build_config(None, None, ["train.kernels=blas", "decode.kernels=onednn"]).train.kernels == "blas"
    for key in ("train.kernels", "decode.kernels"):
        with pytest.raises(ConfigError, match=rf"{key}.*auto.*onednn.*blas"):
            build_config(None, None, [f"{key}=fast"])


@needs_kernel
def test_linear_values_equal_across_kernels():
    torch.manual_seed(0)
    x = torch.randn(64, 48, requires_grad=True)
    w = torch.randn(96, 48, requires_grad=True)
    b = torch.randn(96, requires_grad=True)
    results = {}
    for mode in ("onednn", "blas"):
        probe.probe(torch.nn.Linear(1, 1), CPU, train={"mode": mode, "rows": (1, 1)}, timer=FakeTimer({}))
        for t in (x, w, b):
            t.grad = None
        out = lin.linear(x, w, b)
        out.square().sum().backward()
        results[mode] = [out.detach(), x.grad.clone(), w.grad.clone(), b.grad.clone()]
    for got, want in zip(results["onednn"], results["blas"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(results["blas"][0], F.linear(x, w, b))


def test_adam_fused_and_foreach_make_the_same_update():
    torch.manual_seed(5)
    start = [torch.randn(7, 5), torch.randn(5)]
    grads = [torch.randn(7, 5), torch.randn(5)]
    out = {}
    for name in ("fused", "foreach"):
        params = [p.clone().requires_grad_() for p in start]
        opt = torch.optim.Adam(params, lr=0.01, **{name: True})
        for _ in range(3):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
        out[name] = params
    for a, b in zip(out["fused"], out["foreach"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_training_gives_the_same_losses_on_either_kernel(tmp_path, caplog):
    from seq2seq.cli import main

    caplog.set_level("INFO", logger="seq2seq")
    losses = {}
    for mode in ("onednn", "blas", "auto"):
        out = tmp_path / mode
        args = ["train", "--task", "addition", "--preset", "reverse-peeky", "--epochs", "1", "--out", str(out),
                "--set", "data.train_size=512", "--set", "data.valid_size=64", "--set", "data.test_size=0",
                "--set", "train.threads=1", "--set", f"train.kernels={mode}", "--set", f"decode.kernels={mode}"]
        assert main(args) == 0
        record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        losses[mode] = (record["train_loss"], record["valid_loss"])
        assert f"kernels: train {mode}, decode {mode}" in caplog.text
        caplog.clear()
    for mode in ("blas", "auto"):
        assert losses[mode] == pytest.approx(losses["onednn"], rel=1e-4)


def test_loading_a_run_chooses_generation_kernels_and_a_call_may_force_them(make_run, caplog):
    import seq2seq

    caplog.set_level("INFO", logger="seq2seq")
    model = seq2seq.load(make_run(**{"decode.kernels": "onednn"}))
    assert kernel_plan.forced["decode"] is True and "kernels: decode onednn" in caplog.text
    first = model.predict(["abc"])
    assert model.predict(["abc"], kernels="blas") == first  # the same outputs on the other kernel
    assert kernel_plan.forced["decode"] is False and "kernels: decode blas" in caplog.text


@needs_kernel
def test_a_row_count_cut_for_time_decides_only_near_the_rows_it_was_timed_at():
    from seq2seq.kernels.classes import MAX_MACS, linear_classes

    model = torch.nn.Sequential(lin.Linear(256, 7882))
    classes = linear_classes(model, "train", (64, 871))
    cut = MAX_MACS // (256 * 7882)
    assert [c.label for c in classes] == ["linear 256x7882 at 64 rows", f"linear 256x7882 at {cut} rows"]
    for c in classes:
        c.apply("blas")
    assert kernel_plan.linear_choice(64, 256, 7882) is False
    assert kernel_plan.linear_choice(2 * cut, 256, 7882) is False
    assert kernel_plan.linear_choice(871, 256, 7882) is None  # beyond: the built-in rule (oneDNN)
    x, w = torch.randn(871, 256), model[0].weight
    assert lin.takes_onednn(x, w) and not lin.takes_onednn(x[:64], w)
