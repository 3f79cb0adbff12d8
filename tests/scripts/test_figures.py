"""scripts/figures.py: each section writes a PNG a person can open (or, for 3.1, prints its
timings), and the library pieces behind them hold the book's properties: sigmoid' <= 0.25 and
tanh' <= 1 (maxima at 0), and 7.2's gradient noise of mean 0.1."""

import importlib
import sys

import matplotlib.image
import pytest
import torch
from helpers.cli import REPO

from d2l_lightning.activations import activation_and_derivative
from d2l_lightning.trajectories import OBJECTIVES, noisy_gradient, noisy_sgd_2d

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figures():
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module("figures")


@pytest.mark.parametrize("section, name", [("3.2", "3.2_synthetic_data.png"), ("3.5", "3.5_fashion_mnist.png"),
                                           ("3.8", "3.8_activations.png"), ("7.2", "7.2_noisy_sgd.png")])
def test_each_section_writes_a_png(section, name, tmp_path, fashion_dir, capsys):
    written = figures().main([section, "--out", str(tmp_path / "figs"), "--data-dir", str(fashion_dir)])
    assert written == [tmp_path / "figs" / name]
    assert written[0].read_bytes()[:8] == PNG_SIGNATURE
    height, width, _ = matplotlib.image.imread(written[0]).shape
    assert height > 100 and width > 100
    assert str(written[0]) in capsys.readouterr().out


def test_3_1_prints_both_times_and_the_ratio_and_writes_nothing(tmp_path, capsys):
    assert figures().main(["3.1", "--n", "50", "--out", str(tmp_path / "figs")]) == []
    out = capsys.readouterr().out
    assert "Python loop" in out and "vectorised" in out and "x faster" in out
    assert not (tmp_path / "figs").exists()


def test_activation_derivatives_by_autograd():
    x = torch.linspace(-8, 8, 1601, dtype=torch.float64)  # includes 0
    for name, peak in (("sigmoid", 0.25), ("tanh", 1.0)):
        y, grad = activation_and_derivative(name, x)
        assert grad.max().item() == pytest.approx(peak) and grad.max() <= peak
        assert x[grad.argmax()].item() == pytest.approx(0.0, abs=1e-12)
    y, grad = activation_and_derivative("relu", x)
    assert torch.equal(grad, (x > 0).double()) and torch.equal(y, x.clamp(min=0))
    _, grad = activation_and_derivative("sigmoid", x)
    s = torch.sigmoid(x)
    assert torch.allclose(grad, s * (1 - s))


def test_noisy_sgd_noise_has_the_books_mean():
    generator = torch.Generator().manual_seed(0)
    f = noisy_gradient(OBJECTIVES["elliptic"], generator=generator)
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    noise = []
    for _ in range(2000):  # at x = 0 the true gradient is 0: the gradient is the noise
        (grad,) = torch.autograd.grad(f(x), x)
        noise.append(grad)
    noise = torch.stack(noise)
    assert noise.mean().item() == pytest.approx(0.1, abs=0.04)  # standard error ~0.016
    assert noise.std().item() == pytest.approx(1.0, abs=0.05)
    # the same seed gives the same path; without noise it is plain gradient descent
    assert noisy_sgd_2d(seed=1) == noisy_sgd_2d(seed=1)
    from d2l_lightning.trajectories import train_2d
    assert noisy_sgd_2d(std=0.0, mean=0.0) == train_2d(lambda p: torch.optim.SGD(p, lr=0.1))
