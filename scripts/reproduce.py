"""Run book configs on the real data and print the final metrics as a Markdown table (what the
README's results table records).

    python scripts/reproduce.py configs/ch03/3.6_softmax_scratch.yaml configs/ch03/3.7_softmax.yaml
    python scripts/reproduce.py configs/ch03/3.10_mlp.yaml --seeds 0 1 2 3 4
    python scripts/reproduce.py configs/ch03/*.yaml --extra --config configs/logger/csv.yaml

With --seeds every config runs once per seed and the table gives mean, standard deviation and
range over the seeds: a single final-epoch test accuracy of these SGD runs moves by +-0.02 from
seed to seed (and from epoch to epoch), so one run says little.

Each config runs through the same CLI as `python -m d2l_lightning fit` (in this process, one after
the other); the numbers come from each run's metrics.csv.
"""

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.cli import run as run_cli
from d2l_lightning.plots import epoch_table

SHOW = ["train/loss", "train/acc", "val/loss", "val/acc", "val/w_err", "val/b_err", "val/w_norm",
        "train/log_rmse", "val/log_rmse"]


def run(config: str, extra: list[str]) -> tuple[Path, float, dict[str, float]]:
    start = time.perf_counter()
    run_dir, out = run_cli(["fit", "--config", config, "--trainer.enable_progress_bar", "false",
                            "--trainer.enable_model_summary", "false", *extra])
    seconds = time.perf_counter() - start
    print(out, end="", flush=True)
    last = epoch_table(run_dir / "metrics.csv").iloc[-1]
    return run_dir, seconds, {k: float(last[k]) for k in SHOW if k in last and last[k] == last[k]}


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="run each config once per seed (default: the config's own seed)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="arguments appended to every run (e.g. --config configs/logger/csv.yaml)")
    args = parser.parse_args()
    rows = []
    for config in args.configs:
        if not args.seeds:
            run_dir, seconds, metrics = run(config, args.extra)
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            rows.append(f"| `{config}` | {shown} | {seconds:.0f} s | `{run_dir}` |")
            continue
        per_seed = [run(config, ["--seed_everything", str(s), *args.extra]) for s in args.seeds]
        keys = [k for k in per_seed[0][2] if all(k in m for _, _, m in per_seed)]
        shown = []
        for k in keys:
            vals = [m[k] for _, _, m in per_seed]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            shown.append(f"{k} {statistics.mean(vals):.4g} ± {sd:.2g} [{min(vals):.4g}, {max(vals):.4g}]")
        seconds = statistics.mean(t for _, t, _ in per_seed)
        rows.append(f"| `{config}` (seeds {' '.join(map(str, args.seeds))}) | {'; '.join(shown)} | "
                    f"{seconds:.0f} s/run | `{per_seed[0][0].parent}` |")
    print(f"\nMeasured {date.today()} on {platform.machine()} "
          f"({platform.processor() or 'cpu'}), CPU:\n")
    print("| config | final epoch | wall time | run |\n| --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main_cli()
