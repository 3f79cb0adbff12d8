"""The book's chapter 7 concise training loop (`train_pytorch_ch7`) in plain torch, over many seeds.

    python scripts/book_ch7_loop.py                        # 7.7 concise AdaDelta, seeds 0-19
    python scripts/book_ch7_loop.py adadelta --seeds 0 1 2 --eps 1e-5
    python scripts/book_ch7_loop.py all --seeds $(seq 0 9)  # every concise run of chapter 7

No Lightning, no project model: the book's loop line for line. Data as `get_data_ch7`: the airfoil
file (found like the `Airfoil` data module: --data_dir, $D2L_DATA_DIR, ./data/), every column
standardised with the population std over all 1503 rows, the first 1500 rows kept. Model
`nn.Linear(5, 1)` with PyTorch's default initialisation, loss `MSELoss() / 2` per batch of 10,
shuffled, 2 epochs; the reported loss is `MSELoss() / 2` on all 1500 rows after the last step (the
book's `ls[-1]`). Each seed calls `torch.manual_seed(seed)` right before building the model, so the
initial weights and the shuffling order come from that seed.

Prints, per optimizer, the final loss of each seed, mean ± sd [min, max], and where the book's
printed loss falls among them (its rank and the share of seeds at or below it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.datamodules.airfoil import FILE  # noqa: E402
from d2l_lightning.datamodules.download import fetch  # noqa: E402

# the book's concise runs of chapter 7: optimizer, hyperparameters, printed final loss
BOOK_RUNS = {
    "sgd": (torch.optim.SGD, {"lr": 0.05}, 0.245491),
    "momentum": (torch.optim.SGD, {"lr": 0.004, "momentum": 0.9}, 0.253280),
    "adagrad": (torch.optim.Adagrad, {"lr": 0.1}, 0.243147),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9}, 0.243676),
    "adadelta": (torch.optim.Adadelta, {"rho": 0.9}, 0.242104),
    "adam": (torch.optim.Adam, {"lr": 0.01}, 0.242066),
}


def get_data_ch7(data_dir: str | None = None, num_examples: int = 1500,
                 checksum: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's `get_data_ch7`: standardise every column over all rows, keep the first 1500.
    `checksum=False` takes any file of that name (generated test rows)."""
    path = fetch("Airfoil", [FILE], data_dir, verify=checksum)[FILE.path]
    data = np.genfromtxt(path, delimiter="\t")
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    return (torch.tensor(data[:num_examples, :-1], dtype=torch.float32),
            torch.tensor(data[:num_examples, -1], dtype=torch.float32))


def train_pytorch_ch7(optimizer_fn, hyperparams: dict, features: torch.Tensor, labels: torch.Tensor,
                      seed: int, batch_size: int = 10, num_epochs: int = 2) -> list[float]:
    """The book's loop; returns its `ls` (the loss on all rows at the start and every 100 examples)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(features.shape[-1], 1))
    loss = nn.MSELoss()
    optimizer = optimizer_fn(net.parameters(), **hyperparams)

    def eval_loss() -> float:
        with torch.no_grad():
            return loss(net(features).view(-1), labels).item() / 2

    ls = [eval_loss()]
    data_iter = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(features, labels), batch_size,
                                            shuffle=True)
    for _ in range(num_epochs):
        for batch_i, (X, y) in enumerate(data_iter):
            l = loss(net(X).view(-1), y) / 2  # noqa: E741 (the book's name)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            if (batch_i + 1) * batch_size % 100 == 0:
                ls.append(eval_loss())
    return ls


def spread(name: str, finals: list[float], book: float) -> str:
    """One line: mean ± sd [min, max] over the seeds and where the book's value falls."""
    sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
    below = sum(f <= book for f in finals)
    return (f"{name}: {statistics.mean(finals):.6f} ± {sd:.6f} [{min(finals):.6f}, {max(finals):.6f}] over "
            f"{len(finals)} seeds, median {statistics.median(finals):.6f}; book {book:.6f}: "
            f"{below}/{len(finals)} seeds at or below it")


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("optimizer", nargs="?", default="adadelta", choices=[*BOOK_RUNS, "all"])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    p.add_argument("--eps", type=float, default=None, help="override the optimizer's eps (torch default 1e-6 "
                   "for Adadelta; the book's scratch AdaDelta uses 1e-5)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--data_dir", default=None)
    args = p.parse_args(argv)
    features, labels = get_data_ch7(args.data_dir)
    names = list(BOOK_RUNS) if args.optimizer == "all" else [args.optimizer]
    results = {}
    for name in names:
        optimizer_fn, hyperparams, book = BOOK_RUNS[name]
        if args.eps is not None:
            hyperparams = {**hyperparams, "eps": args.eps}
        finals = [train_pytorch_ch7(optimizer_fn, hyperparams, features, labels, seed,
                                    num_epochs=args.epochs)[-1] for seed in args.seeds]
        print(" ".join(f"{s}:{f:.6f}" for s, f in zip(args.seeds, finals)))
        print(spread(f"{name} {hyperparams}", finals, book), flush=True)
        results[name] = finals
    return results


if __name__ == "__main__":
    main()
