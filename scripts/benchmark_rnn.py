"""Chapter 6 training speed: our `fit` against a plain PyTorch loop of the same language model.

    python scripts/benchmark_rnn.py [--epochs 5] [configs ...]

For each config (default: every configs/ch06/*.yaml) both sides train the same model class with
the same optimizer, clipping (`grad_clipping`, theta from the config), sampling and minibatches of
the lyrics: (a) `python -m d2l_lightning fit` through the CLI objects (CSV logging, checkpoints,
epoch line on; samples during training off); (b) a hand-written loop: zero or carried-and-detached
state, forward, mean cross-entropy, backward, clip, step. Reported: seconds per training epoch
(median epoch after the first) and the ratio (a)/(b). Needs the lyrics (`$D2L_DATA_DIR`).
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

from benchmark import EpochTimer  # noqa: E402

from d2l_lightning.cli import D2LCLI  # noqa: E402
from d2l_lightning.core.language_model import detach_state  # noqa: E402
from d2l_lightning.scratch import grad_clipping  # noqa: E402
from d2l_lightning.scripting import run_script  # noqa: E402

COMMON = ["--config", "configs/logger/csv.yaml", "--run_name", "benchmark_rnn",
          "--model.init_args.pred_period", "0"]


def lightning_run(config: str, epochs: int) -> float:
    cli = D2LCLI(args=["--config", config, *COMMON, "--trainer.max_epochs", str(epochs),
                       "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false"],
                 run=False)
    timer = EpochTimer()
    cli.trainer.callbacks.append(timer.callback)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return statistics.median(timer.times[1:] or timer.times)


def plain_run(config: str, epochs: int) -> float:
    cli = D2LCLI(args=["--config", config, *COMMON], run=False)  # only to build the same objects
    model, dm = cli.model, cli.datamodule
    dm.setup("fit")
    model.configure_model(dm)  # the build hook, as Lightning calls it: layers sized by the vocabulary
    optimizer = model.optimizer(model.param_groups())
    consecutive = dm.sampling == "consecutive"
    model.train()
    times = []
    for epoch in range(epochs):
        loader = dm.train_dataloader()
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        start = time.perf_counter()
        state = None
        for X, Y in loader:
            state = detach_state(state) if consecutive else None
            y_hat, state = model(X, state)
            loss = model.loss(y_hat, Y)
            optimizer.zero_grad()
            loss.backward()
            if model.clip_theta is not None:
                grad_clipping(model.parameters(), model.clip_theta)
            optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:] or times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs/ch06").glob("*.yaml"))
    parser.add_argument("configs", nargs="*", default=default)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for config in args.configs:
        torch.manual_seed(0)
        t_plain = plain_run(config, args.epochs)
        t_ours = lightning_run(config, args.epochs)
        rows.append((config, t_ours, t_plain))
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, epochs {args.epochs}")
    print("| config | ours (s/epoch) | plain loop (s/epoch) | ours / plain |")
    print("| --- | --- | --- | --- |")
    for config, ours, plain in rows:
        print(f"| `{config}` | {ours:.3f} | {plain:.3f} | {ours / plain:.2f} |")


if __name__ == "__main__":
    run_script(main)
