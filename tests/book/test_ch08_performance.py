"""8.1 hybrid programming (the book's program compiled from a string; a network as a symbolic
program gives the same outputs) and 8.3's `Benchmark` and two-device script."""

import importlib
import sys
import time

import pytest
import torch
from helpers.cli import REPO

from d2l_lightning.benchmarking import Benchmark
from d2l_lightning.hybrid import book_net, evoke_str, fancy_func, hybridize, run_program


def test_fancy_func_imperative_and_compiled_from_a_string():
    assert fancy_func(1, 2, 3, 4) == 10
    prog = evoke_str()
    assert "def add(a, b):" in prog and "def fancy_func(a, b, c, d):" in prog
    assert run_program(prog) == 10


def test_symbolic_network_gives_identical_outputs():
    torch.manual_seed(0)
    net = book_net()
    x = torch.randn(4, 512)
    traced = hybridize(net, "fx")
    assert torch.equal(traced(x), net(x))
    assert "def forward" in traced.code  # the generated program, compiled by Python like the book's


@pytest.mark.slow  # compiling takes tens of seconds on 2 CPU cores
def test_compiled_and_exported_network_give_the_same_outputs():
    torch.manual_seed(0)
    net = book_net()
    x = torch.randn(4, 512)
    for mode in ("compile", "export"):
        assert torch.allclose(hybridize(net, mode, example=x)(x), net(x), rtol=0, atol=1e-6)


def test_benchmark_times_its_block(capsys):
    with Benchmark("Run on GPU1.") as timer:
        time.sleep(0.05)
    assert 0.05 <= timer.elapsed < 5
    assert capsys.readouterr().out.startswith("Run on GPU1. time: 0.0")
    with Benchmark(verbose=False) as quiet:
        pass
    assert quiet.elapsed >= 0 and capsys.readouterr().out == ""


def two_devices():
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module("two_devices")


def test_two_device_experiment_skips_without_two_gpus(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert two_devices().main([]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "needs 2 CUDA GPUs" in out and "has 1" in out


def test_two_device_experiment_runs_its_three_blocks(capsys):
    times = two_devices().two_devices(["cpu", "cpu"], steps=5)
    assert list(times) == ["Run on GPU1.", "Then run on GPU2.", "Run on both GPU1 and GPU2 in parallel."]
    assert all(t > 0 for t in times.values())
    assert capsys.readouterr().out.count("time:") == 3
