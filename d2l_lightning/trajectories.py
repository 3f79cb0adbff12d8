"""Chapter 7's small experiments: optimizers on 1-D and 2-D objectives, with the book's plots
(7.1 local minimum and saddle points, 7.2-7.6 trajectories on contour plots).

Trajectories use the optimizer classes of `d2l_lightning.optim` (or `torch.optim`) on a 2-element
parameter tensor, so what is drawn here is exactly what trains the models.
"""

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

#: the book's 2-D objectives: 7.2 uses `elliptic`, 7.4-7.6 the flatter `flat`
OBJECTIVES: dict[str, Callable[[Tensor], Tensor]] = {
    "elliptic": lambda x: x[0] ** 2 + 2 * x[1] ** 2,  # f = x1^2 + 2 x2^2
    "flat": lambda x: 0.1 * x[0] ** 2 + 2 * x[1] ** 2,  # f = 0.1 x1^2 + 2 x2^2
}


def run_optimizer(make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
                  f: Callable[[Tensor], Tensor], x0: Sequence[float], steps: int) -> list[list[float]]:
    """Minimises f from x0 with the optimizer for `steps` steps; returns the points visited
    (x0 first). Float64, so the book's printed digits are reproduced exactly."""
    x = torch.tensor(list(x0), dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([x])
    trace = [x.detach().tolist()]
    for _ in range(steps):
        optimizer.zero_grad()
        f(x).sum().backward()  # sum: lets elementwise 1-D objectives (x ** 2) be used as they are
        optimizer.step()
        trace.append(x.detach().tolist())
    return trace


def train_2d(make_optimizer, objective: str = "elliptic", x0=(-5.0, -2.0), steps: int = 20):
    """The book's `train_2d`: 20 steps from (-5, -2). Returns the trace and prints nothing."""
    return run_optimizer(make_optimizer, OBJECTIVES[objective], x0, steps)


def trace_line(trace: list[list[float]]) -> str:
    """The book's closing line, e.g. `epoch 20, x1 -0.057646, x2 -0.000073`."""
    x1, x2 = trace[-1]
    return f"epoch {len(trace) - 1}, x1 {x1:f}, x2 {x2:f}"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def compact(value: float) -> str:
    """A coordinate for a title: the book's 6 decimals while it is small, else 4 significant digits
    (a diverging run's -1.225e+35 instead of 42 characters)."""
    return f"{value:f}" if abs(value) < 1e4 else f"{value:.4g}"


def _title(first: str, trace: list[list[float]]) -> str:
    """Two lines that fit over the plot: what ran (wrapped if long) and where it ended."""
    import textwrap

    *_, last = trace
    end = f"epoch {len(trace) - 1}, " + ", ".join(
        f"{name} {compact(v)}" for name, v in zip(("x1", "x2") if len(last) == 2 else ("x",), last))
    if not all(math.isfinite(v) for v in last) or max(abs(v) for v in last) > DIVERGED:
        end += " (diverged)"
    return "\n".join([*textwrap.wrap(first, 60), end]) if first else end


#: a path beyond this distance from the optimum is drawn on symmetric-log axes
DIVERGED = 50.0


def _symlog_grid(lo: float, hi: float, linthresh: float, n: int = 200):
    """`n` points from lo to hi, evenly spaced on a symmetric-log axis (contours stay smooth)."""
    import numpy as np

    def fwd(v):
        return np.sign(v) * np.log10(1 + np.abs(v) / linthresh)

    def inv(u):
        return np.sign(u) * linthresh * (10 ** np.abs(u) - 1)

    return inv(np.linspace(fwd(lo), fwd(hi), n))


def _symlog_ticks(lo: float, hi: float) -> list[float]:
    """0 and about five powers of ten each side that the range reaches (not 1, 10, ..., 1e35 crowded)."""
    top = math.floor(math.log10(max(abs(lo), abs(hi))))
    step = max(1, math.ceil(top / 5))
    powers = [10.0 ** k for k in range((top % step or step) if top > 5 else 0, top + 1, step)]
    return sorted([0.0, *(p for p in powers if p <= hi), *(-p for p in powers if -p >= lo)])


def show_trace_2d(objective: str, trace: list[list[float]], out_png: str | Path, title: str = "") -> Path:
    """Contour plot of the objective with the optimizer's path (the book's `show_trace_2d`).
    `title` says what ran (e.g. `SGD lr=0.6`); a second line gives where it ended. A diverging path
    (beyond 50 from the optimum) is drawn on symmetric-log axes, linear near the optimum, so the
    book's window and the blow-up are both visible; its last point is marked."""
    import numpy as np

    plt = _plt()
    f = OBJECTIVES[objective]
    finite = [p for p in trace if all(math.isfinite(v) for v in p)]
    xs = [p[0] for p in finite]
    ys = [p[1] for p in finite]
    lo1, hi1 = min(-5.5, min(xs) - 0.5), max(1.0, max(xs) + 0.5)
    lo2, hi2 = min(-3.0, min(ys) - 0.5), max(1.0, max(ys) + 0.5)
    wide1 = max(abs(lo1), abs(hi1)) > DIVERGED
    wide2 = max(abs(lo2), abs(hi2)) > DIVERGED
    g1 = _symlog_grid(lo1, hi1, 1.0) if wide1 else np.linspace(lo1, hi1, 200)
    g2 = _symlog_grid(lo2, hi2, 1.0) if wide2 else np.linspace(lo2, hi2, 200)
    G1, G2 = np.meshgrid(g1, g2, indexing="ij")
    F = f(torch.stack([torch.from_numpy(G1), torch.from_numpy(G2)])).numpy()
    # far from the optimum f spans many decades: levels evenly spaced in log f
    levels = np.geomspace(max(F.min(), 1e-3), F.max(), 20) if wide1 or wide2 else 20
    fig, ax = plt.subplots(figsize=(5.5, 3.9))
    ax.contour(G1, G2, F, levels=levels, colors="#1f77b4", linewidths=0.8)
    ax.plot(xs, ys, "-o", color="#ff7f0e", markersize=3)
    if wide1 or wide2:
        ax.plot(xs[-1:], ys[-1:], "x", color="#d62728", markersize=9, mew=2)
    if wide1:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xticks(_symlog_ticks(lo1, hi1))
    if wide2:
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_yticks(_symlog_ticks(lo2, hi2))
    ax.set_xlim(lo1, hi1)
    ax.set_ylim(lo2, hi2)
    ax.set_xlabel("x1" + (" (symlog)" if wide1 else ""))
    ax.set_ylabel("x2" + (" (symlog)" if wide2 else ""))
    ax.set_title(_title(title, trace), fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)


def show_trace_1d(f: Callable[[Tensor], Tensor], trace: list[list[float]], out_png: str | Path,
                  title: str = "") -> Path:
    """The book's 7.2 `show_trace`: an elementwise f over the visited range, iterates marked.
    `title` says what ran; a second line gives where it ended (numbers that fit)."""
    plt = _plt()
    xs = [p[0] for p in trace if math.isfinite(p[0])]
    n = max(abs(v) for v in xs)
    grid = torch.linspace(-n, n, 200, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.plot(grid.numpy(), f(grid).numpy())
    ax.plot(xs, f(torch.tensor(xs, dtype=torch.float64)).numpy(), "-o", markersize=3)
    if n > DIVERGED:
        ax.set_yscale("log")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)" + (" (log)" if n > DIVERGED else ""))
    ax.set_title(_title(title, trace), fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)


def book_figures_7_1(out_dir: str | Path) -> list[Path]:
    """7.1's three figures: a local minimum of x cos(pi x), the saddle point of x^3, and the
    saddle of x^2 - y^2."""
    plt = _plt()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    x = torch.arange(-1.0, 2.0, 0.01)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(x, x * torch.cos(torch.pi * x))
    ax.annotate("local minimum", xy=(-0.3, -0.25), xytext=(-0.77, -1.0), arrowprops=dict(arrowstyle="->"))
    ax.annotate("global minimum", xy=(1.1, -0.95), xytext=(0.6, 0.8), arrowprops=dict(arrowstyle="->"))
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    paths.append(out_dir / "7.1_local_minimum.png")

    x = torch.arange(-2.0, 2.0, 0.01)
    fig2, ax2 = plt.subplots(figsize=(4.5, 3.2))
    ax2.plot(x, x**3)
    ax2.annotate("saddle point", xy=(0, -0.2), xytext=(-0.52, -5.0), arrowprops=dict(arrowstyle="->"))
    ax2.set_xlabel("x")
    ax2.set_ylabel("f(x)")
    paths.append(out_dir / "7.1_saddle_1d.png")

    g1, g2 = torch.meshgrid(torch.linspace(-1, 1, 101), torch.linspace(-1, 1, 101), indexing="ij")
    fig3 = plt.figure(figsize=(4.5, 3.6))
    ax3 = fig3.add_subplot(111, projection="3d")
    ax3.plot_wireframe(g1.numpy(), g2.numpy(), (g1**2 - g2**2).numpy(), rstride=10, cstride=10)
    ax3.plot([0], [0], [0], "rx")
    ax3.set_xlabel("x")
    ax3.set_ylabel("y")
    paths.append(out_dir / "7.1_saddle_2d.png")

    for figure, path in zip((fig, fig2, fig3), paths):
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
    return paths


def noisy_gradient(f: Callable[[Tensor], Tensor], mean: float = 0.1, std: float = 1.0,
                   generator: torch.Generator | None = None) -> Callable[[Tensor], Tensor]:
    """f plus a linear term with a slope drawn afresh at every call: its gradient is f's gradient
    plus N(mean, std^2) noise in each coordinate. The book's simulated SGD (7.2) adds
    `np.random.normal(0.1)` to each gradient coordinate: noise of mean 0.1 and std 1, not the zero
    mean its text says, so the default is the book's 0.1 (`mean=0` for the text's)."""
    def noisy(x: Tensor) -> Tensor:
        noise = torch.normal(mean, std, x.shape, generator=generator, dtype=x.dtype)
        return f(x) + (noise * x).sum()
    return noisy


def noisy_sgd_2d(lr: float = 0.1, objective: str = "elliptic", x0=(-5.0, -2.0), steps: int = 20,
                 mean: float = 0.1, std: float = 1.0, seed: int | None = 0) -> list[list[float]]:
    """7.2 simulated SGD: gradient descent on f = x1^2 + 2 x2^2 whose gradients carry noise of
    mean `mean` (the book's 0.1) and standard deviation `std`; lr 0.1, 20 steps from (-5, -2) as
    the book. The path does not settle at the optimum but keeps wandering near it (with mean 0.1
    around (-0.05, -0.025), where lr (grad + 0.1) = 0). Returns the points visited."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    f = noisy_gradient(OBJECTIVES[objective], mean, std, generator)
    return run_optimizer(lambda params: torch.optim.SGD(params, lr=lr), f, x0, steps)
