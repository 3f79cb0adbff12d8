"""Training speed of our `fit` against a plain PyTorch loop, same machine, same run.

    python scripts/benchmark.py [--epochs 3] [--train-subset N] [configs ...]

For each config (default: 3.7 softmax regression and 3.10 MLP on Fashion-MNIST) both sides train
the same model class (same init), with the same optimizer, batch size and in-memory data:
(a) `python -m d2l_lightning fit` through the CLI objects (progress bar, CSV logging, checkpoints
and metrics on, validation off so both sides only train); (b) a hand-written loop: shuffled index
batches, uint8 -> float (and, for chapter 5's resized images, the same one-call resize of the whole
batch) per batch, forward, loss, backward, step. `--train-subset N` trains both on the first N
images only (big CNNs on a CPU). Reported: training samples per
second (median epoch after the first) and the ratio (a)/(b).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.cli import D2LCLI

DEFAULT = ["configs/ch03/3.7_softmax.yaml", "configs/ch03/3.10_mlp.yaml"]


class EpochTimer:
    """Times each training epoch of a Lightning fit."""

    def __init__(self):
        from pytorch_lightning import Callback

        timer = self

        class _CB(Callback):
            def on_train_epoch_start(self, trainer, pl_module):
                timer._t = time.perf_counter()

            def on_train_epoch_end(self, trainer, pl_module):
                timer.times.append(time.perf_counter() - timer._t)

        self.times: list[float] = []
        self.callback = _CB()


def lightning_run(config: str, epochs: int, extra: list[str]) -> tuple[float, int]:
    cli = D2LCLI(args=["--config", config, "--config", "configs/logger/csv.yaml", *extra,
                       "--trainer.max_epochs", str(epochs), "--trainer.limit_val_batches", "0",
                       "--trainer.num_sanity_val_steps", "0", "--trainer.enable_model_summary", "false",
                       "--run_name", "benchmark"], run=False)
    timer = EpochTimer()
    cli.trainer.callbacks.append(timer.callback)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    n = len(cli.datamodule.train_set)
    return statistics.median(timer.times[1:] or timer.times), n


def plain_run(config: str, epochs: int, extra: list[str]) -> tuple[float, int]:
    cli = D2LCLI(args=["--config", config, "--config", "configs/logger/csv.yaml", *extra,
                       "--run_name", "benchmark"], run=False)  # only to build the same objects
    model, dm = cli.model, cli.datamodule
    dm.setup("fit")
    X_all, y_all = dm.train_set.tensors
    resize = getattr(dm, "resize", None)
    optimizer = model.optimizer(model.param_groups())
    model.train()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for idx in torch.randperm(len(X_all)).split(dm.batch_size):
            X = X_all[idx].unsqueeze(1).float().div_(255)
            if resize:
                X = F.interpolate(X, size=(resize, resize), mode="bilinear", align_corners=False)
            y = y_all[idx]
            loss = model.loss(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:] or times), len(X_all)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("configs", nargs="*", default=DEFAULT)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=None,
                        help="train on the first N training images only (both sides)")
    args = parser.parse_args()
    extra = ["--data.init_args.train_subset", str(args.train_subset)] if args.train_subset else []
    rows = []
    for config in args.configs:
        t_plain, n = plain_run(config, args.epochs, extra)
        t_ours, _ = lightning_run(config, args.epochs, extra)
        rows.append((config, n / t_ours, n / t_plain))
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, epochs {args.epochs}"
          + (f", train subset {args.train_subset}" if args.train_subset else ""))
    print("| config | ours (samples/s) | plain loop (samples/s) | ours / plain |")
    print("| --- | --- | --- | --- |")
    for config, ours, plain in rows:
        print(f"| `{config}` | {ours:,.0f} | {plain:,.0f} | {ours / plain:.2f} |")


if __name__ == "__main__":
    main()
