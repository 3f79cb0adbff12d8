"""Chapter 7 in one plot: train every chapter 7 config on the airfoil data and compare them.

    python scripts/compare_optimizers.py [--concise] [--out logs/ch07_compare.png] [CLI overrides]

Runs the scratch optimizer configs (`configs/ch07/*.yaml` without `_concise`; with --concise,
all of them) one after the other through the CLI, then overlays their `val/loss` curves (the loss
on all 1500 rows, every 100 examples) with `compare_runs.py` and prints the final losses and the
hyperparameters that differ. With --concise the plot has two panels, our optimizers (from scratch)
and their torch.optim twins, on the same y axis, a twin in its original's colour. The y axis is
0.22-0.35, the range of the d2l-en edition's optimizer plots (unless a run ends outside it); the
x axis ends at 2 epochs, where all but 7.3's 6-epoch full-batch run end (its label says it is
cut; its final loss is in the table).
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
sys.path.insert(0, str(REPO / "scripts"))

import compare_runs  # noqa: E402

from d2l_lightning.cli import run as run_cli  # noqa: E402
from d2l_lightning.scripting import output_file, run_script  # noqa: E402

BOOK_YLIM = (0.22, 0.35)  # the loss range of the d2l-en edition's optimizer plots (train_ch11)


def train(config: Path, extra: list[str]) -> Path:
    run_dir, _ = run_cli(["fit", "--config", str(config), "--config", str(REPO / "configs/logger/csv.yaml"),
                          "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
                          *extra])
    print(f"{config.stem}: {run_dir}", flush=True)
    return run_dir


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter,
                                allow_abbrev=False)  # CLI options pass through whole
    p.add_argument("--concise", action="store_true", help="also the torch.optim twins")
    p.add_argument("--out", type=output_file, default="logs/ch07_compare.png")
    p.add_argument("--ylim", nargs=2, type=float, metavar=("LO", "HI"), default=BOOK_YLIM,
                   help="y range (default 0.22 0.35, as d2l-en's optimizer plots)")
    args, extra = p.parse_known_args(argv)  # the rest: CLI overrides for every run
    configs = sorted((REPO / "configs/ch07").glob("*.yaml"))
    if not args.concise:
        configs = [c for c in configs if not c.stem.endswith("_concise")]
    runs = [train(c, extra) for c in configs]
    concise = [r for c, r in zip(configs, runs) if c.stem.endswith("_concise")]
    scratch = [r for r in runs if r not in concise]
    panels = [("from scratch (d2l_lightning.optim)", scratch), ("concise (torch.optim)", concise)] \
        if concise else None
    report = compare_runs.compare(runs, ["val/loss"], args.out, panels=panels, ylim=tuple(args.ylim),
                                  color_key=lambda name: name.removesuffix("_concise"))
    print(report)
    return report


if __name__ == "__main__":
    run_script(main)
