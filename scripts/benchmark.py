"""Training speed of our `fit` against a plain PyTorch loop and the book's loop, same run.

    python scripts/benchmark.py [--epochs 3] [--repeat 3] [--floor] [CONFIG[@SUBSET[@RESIZE]] ...]

Default: 3.7 softmax regression, 3.10 MLP and 5.5 LeNet on all 60,000 Fashion-MNIST training
images, and 5.11 ResNet-18 on small input (32 x 32, the first 2,048 images), once as configured and
once with `configs/trainer/bf16.yaml` and `channels_last` (for (a), (b) and the floor; (c) keeps the
book's fp32 and memory format). Every side trains the same model class (same init), with the same
optimizer and batch size, on the same in-memory data:

(a) ours: `python -m d2l_lightning fit` through the CLI objects (progress bar, CSV logging,
    checkpoints and the epoch's train loss and accuracy on; validation off, so all sides only train).
(b) a plain loop: shuffled index batches through the same batch gather and uint8 -> float
    (-> resize) conversion as (a), forward, loss, backward, step, and the epoch's loss and accuracy
    summed on the device as (a) does for its epoch line. (a)/(b) is what Lightning and our
    callbacks cost per step.
(c) the book's loop: torchvision's dataset with a per-image (Resize and) ToTensor through PIL,
    DataLoader workers, and `.item()` sums of loss and accuracy per batch (`d2l.train_ch3`).
(floor, with --floor) Lightning's own per-step cost: the same model in a bare LightningModule
    (training_step = forward + loss) and a Trainer with no logger, callbacks or progress bar.

Reported: training samples per second (the median epoch after the first, or with `--epoch best` the
fastest; with --repeat N, the best of N turns) and the ratios, with the per-step difference between
(a) and (b) in milliseconds. `--sides ours floor` times only those (a shorter run for comparing our
loop with bare Lightning; the missing columns show "-").
"""

import argparse
import math
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.cli import D2LCLI
from d2l_lightning.scripting import run_script  # noqa: E402

#: how an epoch time is taken from a run's epochs after the first (set by --epoch)
EPOCH_STAT = {"median": statistics.median, "best": min}
epoch_stat = statistics.median

# What the template's configs can add for a CNN on this CPU (it has avx512_bf16): bf16-mixed precision
# and channels_last. (a), (b) and the floor use them; (c) runs the model as the book does (fp32, NCHW).
TUNED = ["--config", "configs/trainer/bf16.yaml", "--model.init_args.channels_last", "true"]
# (config, train subset, resize, tuning): ResNet-18 on small input and a subset, or a CPU run takes an hour
DEFAULT = [("configs/ch03/3.7_softmax.yaml", None, None, []), ("configs/ch03/3.10_mlp.yaml", None, None, []),
           ("configs/ch05/5.5_lenet.yaml", None, None, []), ("configs/ch05/5.11_resnet18.yaml", 2048, 32, []),
           ("configs/ch05/5.11_resnet18.yaml", 2048, 32, TUNED)]


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


def lightning_run(config: str, epochs: int, extra: list[str]) -> tuple[float, int, int]:
    cli = D2LCLI(args=["--config", config, "--config", "configs/logger/csv.yaml", *extra,
                       "--trainer.max_epochs", str(epochs), "--trainer.limit_val_batches", "0",
                       "--trainer.num_sanity_val_steps", "0", "--trainer.enable_model_summary", "false",
                       "--run_name", "benchmark"], run=False)
    timer = EpochTimer()
    cli.trainer.callbacks.append(timer.callback)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    n = len(cli.datamodule.train_set)
    return epoch_stat(timer.times[1:] or timer.times), n, cli.datamodule.batch_size


def plain_run(config: str, epochs: int, extra: list[str]) -> tuple[float, int, int]:
    cli = built(config, extra)
    model, dm = cli.model, cli.datamodule
    data = dm.train_set
    bf16 = cli.trainer.precision == "bf16-mixed"

    def batches():
        for idx in torch.randperm(len(data)).split(dm.batch_size):
            yield dm.on_after_batch_transfer(data.__getitems__(idx), 0)  # (a)'s gather and conversion

    return train_epochs(model, batches, epochs, bf16=bf16), len(data), dm.batch_size


def built(config: str, extra: list[str]) -> D2LCLI:
    """The CLI's objects for (b), (c) and the floor, ready as the module's `setup` leaves them
    before (a) trains: data loaded, lazy layers sized on a real batch, the configured
    initialisation, channels_last. Nothing is run through the CLI."""
    cli = D2LCLI(args=["--config", config, "--config", "configs/logger/csv.yaml", *extra,
                       "--run_name", "benchmark"], run=False)
    model, dm = cli.model, cli.datamodule
    dm.setup("fit")
    model.configure_model(dm)  # the build hook, as Lightning calls it
    return cli


def train_epochs(model, batches, epochs: int, book_sums: bool = False, bf16: bool = False) -> float:
    """The plain training loop of (b) and (c); median seconds of an epoch after the first. Both sum
    the epoch's loss and accuracy as (a) does: on the device, or the book's way with `.item()`.
    `bf16`: forward and loss under CPU autocast, as Lightning's `bf16-mixed`."""
    optimizer = model.optimizer(model.param_groups())
    model.train()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        loss_sum = correct = 0
        for X, y in batches():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                y_hat = model(X)
                loss = model.loss(y_hat, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if book_sums:
                loss_sum += loss.item() * y.shape[0]
                correct += (y_hat.argmax(dim=1) == y).sum().item()
            else:
                loss_sum = loss_sum + loss.detach() * y.shape[0]
                correct = correct + (y_hat.argmax(dim=1) == y).sum()
        float(loss_sum), int(correct)  # the epoch's numbers are read once, as (a) logs them
        times.append(time.perf_counter() - start)
    return epoch_stat(times[1:] or times)


def floor_run(config: str, epochs: int, extra: list[str]) -> tuple[float, int, int]:
    """Lightning alone: the model's forward and loss in a bare LightningModule, the same loader."""
    import pytorch_lightning as pl

    cli = built(config, extra)
    model, dm = cli.model, cli.datamodule

    class Bare(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            X, y = batch
            return model.loss(model(X), y)

        def configure_optimizers(self):
            return model.optimizer(model.param_groups())

    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[timer.callback], limit_val_batches=0,
                         num_sanity_val_steps=0, accelerator="cpu", devices=1, precision=cli.trainer.precision)
    trainer.fit(Bare(), datamodule=dm)
    return epoch_stat(timer.times[1:] or timer.times), len(dm.train_set), dm.batch_size


def book_style_run(config: str, epochs: int, workers: int, extra: list[str]) -> tuple[float, int, int]:
    """(c) The book's input pipeline: torchvision's FashionMNIST with a per-image `ToTensor`
    (through PIL) and DataLoader workers, feeding the same model and optimizer."""
    import gzip
    import shutil
    import tempfile

    import torchvision
    from torchvision import transforms

    from d2l_lightning.datamodules.download import fetch

    cli = built(config, extra)
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
        return train_epochs(model, lambda: loader, epochs, book_sums=True), len(data), dm.batch_size


def parse_spec(spec: str) -> tuple[str, int | None, int | None, list[str]]:
    config, *rest = spec.split("@")
    subset, resize = (rest + [None, None])[:2]
    return config, int(subset) if subset else None, int(resize) if resize else None, []


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("specs", nargs="*", metavar="CONFIG[@SUBSET[@RESIZE]]",
                        help="configs, each optionally with a training subset and an image size")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--book-workers", type=int, default=4, help="DataLoader workers of (c), as the book")
    parser.add_argument("--floor", action="store_true", help="also time a bare LightningModule")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every side this many times, taking turns, and keep each one's best "
                             "(a shared or virtual machine's speed drifts by 10-20%% within minutes)")
    parser.add_argument("--epoch", choices=sorted(EPOCH_STAT), default="median",
                        help="an epoch time per run: the median epoch after the first, or the fastest "
                             "(on a machine whose speed drifts, `best` with --repeat compares code, not drift)")
    parser.add_argument("--sides", nargs="+", choices=["ours", "plain", "book", "floor"],
                        default=["ours", "plain", "book"], help="which loops to time (--floor adds floor)")
    parser.add_argument("--cli-args", default="", metavar="'ARGS'",
                        help="CLI arguments for every side's config, e.g. '--data.init_args.batch_size 128'")
    args = parser.parse_args(argv)
    global epoch_stat
    epoch_stat = EPOCH_STAT[args.epoch]
    sides = set(args.sides) | ({"floor"} if args.floor else set())
    runs = [parse_spec(s) for s in args.specs] if args.specs else DEFAULT
    rows = []
    for config, subset, resize, tuning in runs:
        extra = (["--data.init_args.train_subset", str(subset)] if subset else []) + \
            (["--data.init_args.resize", str(resize)] if resize else []) + shlex.split(args.cli_args)
        t_plain = t_ours = t_book = t_floor = math.inf
        n = batch_size = None
        for _ in range(args.repeat):  # the sides take turns; each keeps its best time
            if "plain" in sides:
                t, n, batch_size = plain_run(config, args.epochs, extra + tuning)
                t_plain = min(t_plain, t)
            if "ours" in sides:
                t, n, batch_size = lightning_run(config, args.epochs, extra + tuning)
                t_ours = min(t_ours, t)
            if "book" in sides:
                t, n, batch_size = book_style_run(config, args.epochs, args.book_workers, extra)
                t_book = min(t_book, t)
            if "floor" in sides:
                t, n, batch_size = floor_run(config, args.epochs, extra + tuning)
                t_floor = min(t_floor, t)
        steps = -(-n // batch_size)
        parts = ([f"{resize} px"] if resize else []) + ([f"{n} images"] if subset else []) + \
            (["bf16-mixed, channels_last"] if tuning else [])
        label = Path(config).stem + (f" ({', '.join(parts)})" if parts else "")
        rates = {side: (n / t if t < math.inf else None) for side, t in
                 (("ours", t_ours), ("plain", t_plain), ("book", t_book), ("floor", t_floor))}
        extra_ms = (t_ours - t_plain) / steps * 1e3 if rates["ours"] and rates["plain"] else None
        rows.append((label, rates, extra_ms))
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, epochs {args.epochs} "
          f"({args.epoch} epoch after the first), book loop with {args.book_workers} workers, "
          f"best of {args.repeat}; training samples/s")
    floor = " floor: bare Lightning |" if "floor" in sides else ""
    floor_ratio = " (a)/floor |" if "floor" in sides else ""
    print(f"| config | (a) ours | (b) plain loop | (c) book's loop |{floor} (a)/(b) | (a)/(c) |{floor_ratio}"
          " (a)-(b) ms/step |")
    print("| --- " * (7 + 2 * ("floor" in sides)) + "|")

    def cell(x, fmt):
        return "-" if x is None else format(x, fmt)

    def ratio(a, b):
        return cell(a / b if a and b else None, ".2f")

    for label, r, extra_ms in rows:
        bare = f" {cell(r['floor'], ',.0f')} |" if "floor" in sides else ""
        bare_ratio = f" {ratio(r['ours'], r['floor'])} |" if "floor" in sides else ""
        rates = " | ".join(cell(r[side], ",.0f") for side in ("ours", "plain", "book"))
        ratios = f"{ratio(r['ours'], r['plain'])} | {ratio(r['ours'], r['book'])} |{bare_ratio}"
        print(f"| {label} | {rates} |{bare} {ratios} {cell(extra_ms, '.2f')} |")
    return rows

if __name__ == "__main__":
    run_script(main)
