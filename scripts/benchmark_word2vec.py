"""10.3 word2vec training speed: our `fit` against a plain PyTorch loop of the same model and data.

    python scripts/benchmark_word2vec.py [--epochs 2] [--turns 3] [--config configs/ch10/10.3_word2vec.yaml]
        [--data_dir DIR] [any CLI flag, e.g. --data.init_args.batch_size 1024, given to both sides]

Both sides build the same objects from the config (the PTB data module with its subsampling,
pairs and noise words drawn from seed 0, and `SkipGram` initialised from seed 0), so they train on
the same batches from the same weights:

(a) ours: `python -m d2l_lightning fit` through the CLI objects (progress bar, CSV logging,
    checkpoints, the epoch line and exact epoch means on);
(b) the book's loop (10.3.5.3 `train`): the data module's shuffled loader, forward, the masked loss,
    zero_grad, backward, Adam step, and `l.item()` summed per batch.

Each turn runs both sides, `--epochs` epochs each ((b) first in odd turns, (a) first in even ones);
a side's time is its median epoch, as wall-clock seconds and as the CPU seconds of this process
(`time.process_time`, every thread of it). Alternating the sides lets the machine's drift (10-20%
within minutes here) hit both; the ratios reported are the medians over turns of (a)/(b). On a
machine shared with other jobs the wall-clock ratio of one turn moves by +-40%, while the CPU time a
side needs barely depends on what else runs: run it with OMP_NUM_THREADS=1 there (with 2 threads on
a busy 2-core machine both sides slow down several-fold, waiting for each other's threads). Also
printed: each side's loss per epoch (the same curve). Needs ptb.train.txt (`$D2L_DATA_DIR` or
--data_dir).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package
sys.path.insert(0, str(ROOT / "scripts"))

from d2l_lightning.cli import D2LCLI, known_warnings_ignored  # noqa: E402
from d2l_lightning.scripting import run_script  # noqa: E402

COMMON = ["--config", "configs/logger/csv.yaml", "--run_name", "benchmark_word2vec",
          "--trainer.enable_model_summary", "false"]


def cli_objects(config: str, epochs: int, extra: list[str]) -> D2LCLI:
    return D2LCLI(args=["--config", config, *COMMON, "--trainer.max_epochs", str(epochs), *extra], run=False)


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def lightning_run(config: str, epochs: int, extra: list[str]) -> tuple[list[tuple[float, float]], list[float]]:
    """(wall, CPU) seconds and train/loss of each epoch of (a)."""
    from pytorch_lightning import Callback

    cli = cli_objects(config, epochs, extra)
    times, losses = [], []

    class Epochs(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.start = clocks()

        def on_train_epoch_end(self, trainer, pl_module):
            times.append(tuple(b - a for a, b in zip(self.start, clocks())))
            losses.append(float(trainer.callback_metrics["train/loss"]))

    cli.trainer.callbacks.append(Epochs())
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return times, losses


def plain_run(config: str, epochs: int, extra: list[str]) -> tuple[list[tuple[float, float]], list[float]]:
    """(wall, CPU) seconds and mean batch loss of each epoch of (b)."""
    cli = cli_objects(config, epochs, extra)  # only to build the same objects
    model, dm = cli.model, cli.datamodule
    dm.setup("fit")
    model.configure_model(dm)  # the build hook, as Lightning calls it: tables sized by the vocabulary
    optimizer = model.optimizer(model.param_groups())
    model.train()
    times, losses = [], []
    for epoch in range(epochs):
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        start, l_sum, n = clocks(), 0.0, 0
        for center, context_negative, mask, label in loader:
            pred = model(center, context_negative)
            l = model.loss(pred, (label, mask))  # noqa: E741 (the book's name)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            l_sum += l.item()
            n += 1
        times.append(tuple(b - a for a, b in zip(start, clocks())))
        losses.append(l_sum / n)
    return times, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", default="configs/ch10/10.3_word2vec.yaml")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--data_dir", default=None)
    args, cli_flags = parser.parse_known_args()
    extra = (["--data.init_args.data_dir", args.data_dir] if args.data_dir else []) + cli_flags
    rows = []
    for turn in range(args.turns):
        results = {}
        for side in ("plain", "ours") if turn % 2 == 0 else ("ours", "plain"):
            torch.manual_seed(0)
            run = plain_run if side == "plain" else lightning_run
            with known_warnings_ignored():  # the warnings a CLI command ignores
                results[side] = run(args.config, args.epochs, extra)
        (t_plain, l_plain), (t_ours, l_ours) = results["plain"], results["ours"]
        # (wall, CPU) medians of each side
        ours, plain = [tuple(statistics.median(t[k] for t in ts) for k in (0, 1)) for ts in (t_ours, t_plain)]
        rows.append((ours, plain))
        print(f"turn {turn + 1}: wall ours {ours[0]:.2f} s/epoch, plain {plain[0]:.2f} "
              f"({ours[0] / plain[0]:.3f}); CPU ours {ours[1]:.2f} s/epoch, plain {plain[1]:.2f} "
              f"({ours[1] / plain[1]:.3f}); "
              f"loss ours {[round(x, 4) for x in l_ours]}, plain {[round(x, 4) for x in l_plain]}", flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.epochs} epochs x {args.turns} turns (medians over turns)")
    print("| config | clock | ours (s/epoch) | plain loop (s/epoch) | ours / plain |")
    print("| --- | --- | --- | --- | --- |")
    for k, clock in enumerate(("wall", "CPU")):
        print(f"| `{args.config}` | {clock} | {statistics.median(o[k] for o, _ in rows):.2f} | "
              f"{statistics.median(p[k] for _, p in rows):.2f} | "
              f"{statistics.median(o[k] / p[k] for o, p in rows):.3f} |")


if __name__ == "__main__":
    run_script(main)
