"""Chapter 7 in one plot: train every chapter 7 config on the airfoil data and compare them.

    python scripts/compare_optimizers.py [--concise] [--out logs/ch07_compare.png]

Runs the scratch optimizer configs (`configs/ch07/*.yaml` without `_concise`; with --concise,
all of them) one after the other through the CLI, then overlays their `val/loss` curves (the loss
on all 1500 rows, every 100 examples) with `compare_runs.py` and prints the final losses and the
hyperparameters that differ.
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
sys.path.insert(0, str(REPO / "scripts"))

import compare_runs  # noqa: E402

from d2l_lightning.cli import run as run_cli  # noqa: E402


def train(config: Path, extra: list[str]) -> Path:
    run_dir, _ = run_cli(["fit", "--config", str(config), "--config", str(REPO / "configs/logger/csv.yaml"),
                          "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
                          *extra])
    print(f"{config.stem}: {run_dir}", flush=True)
    return run_dir


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--concise", action="store_true", help="also the torch.optim twins")
    p.add_argument("--out", type=Path, default=Path("logs/ch07_compare.png"))
    p.add_argument("extra", nargs=argparse.REMAINDER, help="CLI overrides for every run")
    args = p.parse_args(argv)
    configs = sorted((REPO / "configs/ch07").glob("*.yaml"))
    if not args.concise:
        configs = [c for c in configs if not c.stem.endswith("_concise")]
    runs = [train(c, args.extra) for c in configs]
    report = compare_runs.compare(runs, ["val/loss"], args.out)
    print(report)
    return report


if __name__ == "__main__":
    main()
