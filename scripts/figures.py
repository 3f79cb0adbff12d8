"""The book's figures and small demos of chapters 3 and 7 that need no training run:

    python scripts/figures.py 3.1            # vectorised vs Python-loop addition: both times, the ratio
    python scripts/figures.py 3.2            # the synthetic linear-regression data (feature 2 vs label)
    python scripts/figures.py 3.5            # a row of Fashion-MNIST images with their text labels
    python scripts/figures.py 3.8            # ReLU, sigmoid, tanh and their derivatives (autograd)
    python scripts/figures.py 7.2            # noisy SGD on x1^2 + 2 x2^2 (noise mean 0.1, the book's code)
    python scripts/figures.py all --out DIR  # every figure

PNG files go to `--out` (default logs/figures/), named after the section; the script prints each
path. 3.1 writes nothing: its numbers are timings of this machine, printed only.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from d2l_lightning.activations import activation_and_derivative
from d2l_lightning.trajectories import noisy_sgd_2d, show_trace_2d, trace_line

SECTIONS = ("3.1", "3.2", "3.5", "3.8", "7.2")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def timing_3_1(n: int = 1000, turns: int = 3) -> tuple[float, float]:
    """3.1: adds two vectors of n ones element by element in a Python loop and with one `+`;
    alternating turns, the median of each. Returns (loop seconds, vectorised seconds)."""
    a, b = torch.ones(n), torch.ones(n)
    loop, vectorised = [], []
    for _ in range(turns):
        start = time.perf_counter()
        c = torch.zeros(n)
        for i in range(n):
            c[i] = a[i] + b[i]
        loop.append(time.perf_counter() - start)
        start = time.perf_counter()
        d = a + b
        vectorised.append(time.perf_counter() - start)
        assert torch.equal(c, d)
    return statistics.median(loop), statistics.median(vectorised)


def scatter_3_2(out: Path, num_examples: int = 1000) -> Path:
    """3.2: the book's synthetic data (w = [2, -3.4], b = 4.2, noise std 0.01): the second feature
    against the label, a clear linear relation."""
    from d2l_lightning.datamodules.synthetic import SyntheticLinear

    X, y = SyntheticLinear(num_train=num_examples).train_set.tensors
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.scatter(X[:, 1].numpy(), y[:, 0].numpy(), s=1)
    ax.set_xlabel("features[:, 1]")
    ax.set_ylabel("labels")
    ax.set_title(f"3.2 synthetic data ({num_examples} examples)", fontsize=9)
    return _save(fig, out / "3.2_synthetic_data.png")


def image_row_3_5(out: Path, data_dir: str | None = None, count: int = 10) -> Path:
    """3.5: the first `count` training images of Fashion-MNIST with their text labels."""
    from d2l_lightning.datamodules.fashion_mnist import LABELS, FashionMNIST

    data = FashionMNIST(data_dir=data_dir, checksum=data_dir is None)
    data.setup()
    X, y = data.train_set.tensors
    count = min(count, len(X))
    plt = _plt()
    fig, axes = plt.subplots(1, count, figsize=(1.2 * count, 1.6))
    for ax, image, label in zip(axes if count > 1 else [axes], X[:count], y[:count]):
        ax.imshow(image.numpy(), cmap="gray")
        ax.set_title(LABELS[int(label)], fontsize=8)
        ax.axis("off")
    return _save(fig, out / "3.5_fashion_mnist.png")


def activations_3_8(out: Path) -> Path:
    """3.8: ReLU, sigmoid and tanh on [-8, 8] (top) and their derivatives by autograd (bottom);
    sigmoid' peaks at 0.25 and tanh' at 1, both at x = 0."""
    x = torch.arange(-8.0, 8.0, 0.1)
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(8, 4.2), sharex=True)
    for col, name in enumerate(("relu", "sigmoid", "tanh")):
        y, grad = activation_and_derivative(name, x)
        axes[0, col].plot(x.numpy(), y.numpy())
        axes[0, col].set_title(f"{name}(x)", fontsize=9)
        axes[1, col].plot(x.numpy(), grad.numpy(), color="#ff7f0e")
        axes[1, col].set_title(f"grad of {name} (max {grad.max().item():.2f})", fontsize=9)
        axes[1, col].set_xlabel("x")
    return _save(fig, out / "3.8_activations.png")


def noisy_sgd_7_2(out: Path, seed: int = 0) -> Path:
    """7.2: gradient descent with noisy gradients, lr 0.1, 20 steps from (-5, -2). The book's code
    draws the noise with `np.random.normal(0.1)`: mean 0.1, standard deviation 1 (its text says
    zero mean); we draw the same, so the path wanders around (-0.05, -0.025), not (0, 0)."""
    trace = noisy_sgd_2d(seed=seed)
    print(trace_line(trace))
    return show_trace_2d("elliptic", trace, out / "7.2_noisy_sgd.png",
                         title="SGD lr=0.1, gradient noise N(0.1, 1) (the book's mean 0.1, not 0)")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def main(argv: list[str] | None = None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("section", choices=(*SECTIONS, "all"), help="book section of the figure, or all")
    p.add_argument("--out", default="logs/figures", help="folder for the PNG files (created)")
    p.add_argument("--data-dir", default=None,
                   help="3.5: folder holding FashionMNIST/ (default: the usual lookup)")
    p.add_argument("--n", type=int, default=1000, help="3.1: vector length (book: 1000)")
    args = p.parse_args(argv)
    out = Path(args.out)
    written = []
    for section in SECTIONS if args.section == "all" else (args.section,):
        if section == "3.1":
            loop, vectorised = timing_3_1(args.n)
            print(f"3.1 adding two vectors of {args.n}: Python loop {loop:.6f} s, "
                  f"vectorised {vectorised:.6f} s, vectorised {loop / vectorised:.0f}x faster "
                  "(median of 3 alternating turns, this machine)")
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = {"3.2": lambda: scatter_3_2(out), "3.5": lambda: image_row_3_5(out, args.data_dir),
                "3.8": lambda: activations_3_8(out), "7.2": lambda: noisy_sgd_7_2(out)}[section]()
        print(path)
        written.append(path)
    return written


if __name__ == "__main__":
    main()
