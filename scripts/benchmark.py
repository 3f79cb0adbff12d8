"""Training speed of our `fit` against a plain PyTorch loop and the book's loop, same run.

    python scripts/benchmark.py [--epochs 3] [--train-subset N] [configs ...]

For each config (default: 3.7 softmax regression and 3.10 MLP on Fashion-MNIST) both sides train
the same model class (same init), with the same optimizer, batch size and in-memory data:
(a) `python -m d2l_lightning fit` through the CLI objects (progress bar, CSV logging, checkpoints
and metrics on, validation off so both sides only train); (b) a hand-written loop: shuffled index
batches, uint8 -> float (and, for chapter 5's resized images, the same one-call resize of the whole
batch) per batch, forward, loss, backward, step; (c) the book's way: torchvision's dataset with a
per-image (Resize and) ToTensor through PIL and DataLoader workers. `--train-subset N` trains all
three on the first N images only (big CNNs on a CPU). Reported: training samples per second (median
epoch after the first) and the ratios.
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

    def batches():
        for idx in torch.randperm(len(X_all)).split(dm.batch_size):
            X = X_all[idx].unsqueeze(1).float().div_(255)
            if resize:
                X = F.interpolate(X, size=(resize, resize), mode="bilinear", align_corners=False)
            yield X, y_all[idx]

    return train_epochs(model, batches, epochs), len(X_all)


def train_epochs(model, batches, epochs: int) -> float:
    """The plain training loop of (b) and (c); median seconds of an epoch after the first."""
    optimizer = model.optimizer(model.param_groups())
    model.train()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for X, y in batches():
            loss = model.loss(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:] or times)


def book_style_run(config: str, epochs: int, workers: int, extra: list[str]) -> tuple[float, int]:
    """(c) The book's input pipeline: torchvision's FashionMNIST with a per-image `ToTensor`
    (through PIL) and DataLoader workers, feeding the same model and optimizer."""
    import gzip
    import shutil
    import tempfile

    import torchvision
    from torchvision import transforms

    from d2l_lightning.datamodules.download import fetch

    cli = D2LCLI(args=["--config", config, "--config", "configs/logger/csv.yaml",
                       "--run_name", "benchmark", *extra], run=False)
    model, dm = cli.model, cli.datamodule
    with tempfile.TemporaryDirectory() as tmp:  # torchvision reads the decompressed idx files
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for rel, path in fetch("FashionMNIST", dm.files(), dm.data_dir, verbose=False).items():
            with gzip.open(path) as src, open(raw / Path(rel).name[: -len(".gz")], "wb") as dst:
                shutil.copyfileobj(src, dst)
        steps = ([transforms.Resize(dm.resize)] if dm.resize else []) + [transforms.ToTensor()]
        data = torchvision.datasets.FashionMNIST(tmp, train=True, transform=transforms.Compose(steps))
        if dm.train_subset:
            data = torch.utils.data.Subset(data, range(dm.train_subset))
        loader = torch.utils.data.DataLoader(data, batch_size=dm.batch_size, shuffle=True,
                                             num_workers=workers)
        return train_epochs(model, lambda: loader, epochs), len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("configs", nargs="*", default=DEFAULT)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--book-workers", type=int, default=4, help="DataLoader workers of (c), as the book")
    parser.add_argument("--train-subset", type=int, default=None,
                        help="train on the first N training images only (all three)")
    args = parser.parse_args()
    extra = ["--data.init_args.train_subset", str(args.train_subset)] if args.train_subset else []
    rows = []
    for config in args.configs:
        t_plain, n = plain_run(config, args.epochs, extra)
        t_ours, _ = lightning_run(config, args.epochs, extra)
        t_book, _ = book_style_run(config, args.epochs, args.book_workers, extra)
        rows.append((config, n / t_ours, n / t_plain, n / t_book))
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, epochs {args.epochs}, "
          f"book loop with {args.book_workers} workers"
          + (f", train subset {args.train_subset}" if args.train_subset else ""))
    print("| config | (a) ours | (b) plain loop | (c) book's loop | (a)/(b) | (a)/(c) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for config, ours, plain, book in rows:
        print(f"| `{config}` | {ours:,.0f} | {plain:,.0f} | {book:,.0f} | {ours / plain:.2f} "
              f"| {ours / book:.2f} |")


if __name__ == "__main__":
    main()
