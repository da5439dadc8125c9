"""Where a run computes: device names, threads, precision checks, autocast."""

import logging

import pytest
import torch

from seq2seq import ConfigError, build_config
from seq2seq.training import pick_device
from seq2seq.training import runtime as runtime_module
from seq2seq.training.runtime import start_runtime


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_auto_is_cuda_when_available_else_cpu(no_cuda, monkeypatch):
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    assert pick_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", ""])
def test_bad_device_names_are_refused_naming_the_key(name):
    with pytest.raises(ConfigError, match=rf"train\.device: bad value '{name}'; use auto, cpu, cuda or cuda:N"):
        pick_device(name)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_cuda_device_is_refused(no_cuda, name):
    with pytest.raises(ConfigError, match=rf"train\.device={name} but no CUDA device is available"):
        pick_device(name)


def test_start_runtime_sets_threads_and_resolves_the_device(no_cuda, threads):
    rt = start_runtime(build_config(overrides={"train.threads": 1, "train.device": "auto"}))
    assert rt.device == torch.device("cpu") and torch.get_num_threads() == 1
    assert not rt.world.distributed and rt.world.is_main and rt.precision == "fp32"
    with rt.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_fp16_needs_cuda_even_when_the_config_said_auto(no_cuda, threads):
    cfg = build_config(overrides={"train.precision": "fp16", "train.threads": 1})  # device auto: allowed here
    with pytest.raises(ConfigError, match="train.precision=fp16 needs a CUDA device; use bf16 on CPU"):
        start_runtime(cfg)
    with pytest.raises(ConfigError, match="train.precision=fp16 needs a CUDA device"):
        build_config(overrides={"train.precision": "fp16", "train.device": "cpu"})


def test_bf16_on_a_cpu_without_bf16_lstm_kernels_warns(no_cuda, threads, monkeypatch, caplog):
    cfg = build_config(overrides={"train.precision": "bf16", "train.threads": 1})
    monkeypatch.setattr(runtime_module, "cpu_bf16_lstm_supported", lambda: False)
    with caplog.at_level(logging.WARNING, logger="seq2seq"):
        rt = start_runtime(cfg)
    assert "LSTM layers run in fp32" in caplog.text
    with rt.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    caplog.clear()
    monkeypatch.setattr(runtime_module, "cpu_bf16_lstm_supported", lambda: True)
    with caplog.at_level(logging.WARNING, logger="seq2seq"):
        start_runtime(cfg)
    assert "fp32" not in caplog.text
