"""3.16 K-fold cross-validation through the same CLI objects as `python -m d2l_lightning fit`.

    python scripts/kfold.py --config configs/ch03/3.16_kaggle_house.yaml [--folds 5] [--verbose] [CLI overrides]

Fold i trains on the other folds (`--data.init_args.fold i`) in its own run directory
`logs/<config stem>_kfold/<time>/fold<i>/` (its epoch lines in `output.log` there), then the
model's log RMSE is measured on the whole training and validation parts (as the book's `k_fold`).
Prints one line per fold, the averages and where the files are; `--verbose` also prints every
fold's epoch lines and Lightning's messages.

Writes `logs/<config stem>_kfold/<time>/kfold.csv` (one row per fold and the mean). In W&B the
folds are the runs `fold1`..`foldK` of the group `<config stem>_kfold-<time>` (each with its
`kfold/train_log_rmse` and `kfold/valid_log_rmse` in the run summary), and a short run `summary` in
the same group holds the averages and the per-fold table.
"""

import argparse
import csv
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
sys.path.insert(0, str(REPO / "scripts"))

from compare_runs import flatten  # noqa: E402
from sweep import NamedRunCLI, captured_output, save_output  # noqa: E402

from d2l_lightning import loggers  # noqa: E402
from d2l_lightning.cli import known_warnings_ignored  # noqa: E402
from d2l_lightning.models.house import log_rmse  # noqa: E402
from d2l_lightning.scripting import int_at_least, run_script  # noqa: E402


@torch.no_grad()
def dataset_log_rmse(model, dataset) -> float:
    X, y = dataset.tensors
    model.eval()
    return log_rmse(model.price(X.to(model.device)).cpu(), y)


def _wandb_loggers(trainer) -> list:
    return [lg for lg in trainer.loggers if type(lg).__name__.endswith("WandbLogger")]


def train_fold(cli_args: list[str], fold: int, group: str,
               verbose: bool) -> tuple[Path, float, float, dict | None]:
    """Trains one fold; returns its run folder, train and valid log RMSE and its W&B settings."""
    with captured_output(verbose) as out:
        try:
            with known_warnings_ignored():
                cli = NamedRunCLI(args=cli_args, run=False, wandb_name=f"fold{fold}", wandb_group=group,
                                  wandb_tags=("kfold",))
                cli.trainer.fit(cli.model, datamodule=cli.datamodule)
                dm = cli.datamodule
                train = dataset_log_rmse(cli.model, dm.train_set)
                valid = dataset_log_rmse(cli.model, dm.val_set)
                for lg in _wandb_loggers(cli.trainer):  # the fold's own numbers, next to its curves
                    lg.experiment.summary.update({"kfold/train_log_rmse": train, "kfold/valid_log_rmse": valid})
                cli.finish()
        except BaseException:
            loggers.close_wandb_run()  # else the next W&B run in this process would reuse it
            if not verbose:  # what the fold printed before it failed
                sys.__stderr__.write(out.getvalue()[-3000:])
            raise
    save_output(cli.run_dir, out.getvalue())
    return cli.run_dir, train, valid, cli.wandb


def write_table(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["fold", "train_log_rmse", "valid_log_rmse", "run_dir"])
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "train_log_rmse": f"{r['train_log_rmse']:.6f}",
                             "valid_log_rmse": f"{r['valid_log_rmse']:.6f}"})


def log_summary_run(wandb_settings: dict, kfold_dir: Path, rows: list[dict], config: dict,
                    verbose: bool) -> None:
    """The group's `summary` run (in `<kfold dir>/wandb/`): the averages and their spread in its
    summary, the per-fold table, and the folds' hyperparameters as its config."""
    import wandb

    folds = [r for r in rows if r["fold"] != "mean"]
    train = [r["train_log_rmse"] for r in folds]
    valid = [r["valid_log_rmse"] for r in folds]
    with captured_output(verbose):
        run = wandb.init(project=wandb_settings["project"], group=wandb_settings["group"], name="summary",
                         job_type="kfold-summary", tags=["kfold", "summary"], dir=str(kfold_dir.resolve()),
                         mode=wandb_settings["mode"], config={**config, "kfold.folds": len(folds)})
        run.summary.update({
            "kfold/avg_train_log_rmse": statistics.mean(train),
            "kfold/avg_valid_log_rmse": statistics.mean(valid),
            "kfold/std_valid_log_rmse": statistics.stdev(valid) if len(valid) > 1 else 0.0,
            **{f"kfold/fold{r['fold']}_valid_log_rmse": r["valid_log_rmse"] for r in folds},
        })
        run.log({"kfold/folds": wandb.Table(columns=["fold", "train_log_rmse", "valid_log_rmse"],
                                            data=[[r["fold"], r["train_log_rmse"], r["valid_log_rmse"]]
                                                  for r in folds])})
        run.finish()


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter,
                                     allow_abbrev=False)  # CLI options pass through whole
    parser.add_argument("--config", action="append", required=True, help="config file (repeatable)")
    parser.add_argument("--folds", type=int_at_least(2), default=5,
                        help="number of folds K (book: 5; at most the number of houses)")
    parser.add_argument("--verbose", action="store_true", help="also print each fold's epoch lines and "
                                                               "Lightning's messages")
    args, overrides = parser.parse_known_args(argv)
    stem = Path(args.config[0]).stem
    version = datetime.now().strftime("%Y%m%d-%H%M%S")
    group = f"{stem}_kfold-{version}"
    rows, wandb_settings, kfold_dir = [], None, None
    for i in range(args.folds):
        cli_args = [a for c in args.config for a in ("--config", c)] + [
            "--data.init_args.num_folds", str(args.folds), "--data.init_args.fold", str(i),
            "--run_name", f"{stem}_kfold", "--run_version", f"{version}/fold{i + 1}",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            *overrides, *(["--quiet=false"] if args.verbose else [])]
        start = time.perf_counter()
        run_dir, train, valid, wandb_settings = train_fold(cli_args, i + 1, group, args.verbose)
        kfold_dir = run_dir.parent
        rows.append({"fold": i + 1, "train_log_rmse": train, "valid_log_rmse": valid, "run_dir": str(run_dir)})
        print(f"fold {i + 1}, train log_rmse {train:.6f}, valid log_rmse {valid:.6f}  "
              f"({time.perf_counter() - start:.1f} s, {run_dir})", flush=True)
    avg_train = statistics.mean(r["train_log_rmse"] for r in rows)
    avg_valid = statistics.mean(r["valid_log_rmse"] for r in rows)
    rows.append({"fold": "mean", "train_log_rmse": avg_train, "valid_log_rmse": avg_valid,
                 "run_dir": str(kfold_dir)})
    write_table(kfold_dir / "kfold.csv", rows)
    print(f"avg train log_rmse {avg_train:.6f}, avg valid log_rmse {avg_valid:.6f}", flush=True)
    print(f"table: {kfold_dir / 'kfold.csv'}", flush=True)
    files = "config.yaml, metrics.csv, curves.png" + ("" if args.verbose else ", output.log")
    print(f"folds: {kfold_dir}/fold1..{args.folds}/ ({files})", flush=True)
    if wandb_settings and wandb_settings["mode"] != "disabled":
        config_yaml = Path(rows[0]["run_dir"]) / "config.yaml"
        config = {}
        if config_yaml.is_file():
            import yaml

            config = {k: v for k, v in flatten(yaml.safe_load(config_yaml.read_text())).items()
                      if not k.startswith(("trainer.logger", "data.init_args.fold", "run_"))}
        log_summary_run(wandb_settings, kfold_dir, rows, config, args.verbose)
        where = f"; upload with: wandb sync {kfold_dir}/*/wandb/offline-run-* {kfold_dir}/wandb/offline-run-*" \
            if wandb_settings["mode"] == "offline" else ""
        print(f"W&B ({wandb_settings['mode']}): group {group}, runs fold1..{args.folds} and summary{where}",
              flush=True)
    return avg_train, avg_valid


if __name__ == "__main__":
    run_script(main)
