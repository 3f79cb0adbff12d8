"""3.16 K-fold cross-validation through the same CLI objects as `python -m d2l_lightning fit`.

    python scripts/kfold.py --config configs/ch03/3.16_kaggle_house.yaml [--folds 5] [CLI overrides]

Fold i trains on the other folds (`--data.init_args.fold i`) in its own run directory
`logs/<config stem>_kfold/<timestamp>/fold<i>/`, then the model's log RMSE is measured on the
whole training and validation parts (as the book's `k_fold`). Ends with the line
`avg train log_rmse <x>, avg valid log_rmse <y>`.
"""

import argparse
import statistics
import sys
from datetime import datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.cli import D2LCLI, known_warnings_ignored
from d2l_lightning.errors import D2LError
from d2l_lightning.models.house import log_rmse


@torch.no_grad()
def dataset_log_rmse(model, dataset) -> float:
    X, y = dataset.tensors
    model.eval()
    return log_rmse(model.price(X.to(model.device)).cpu(), y)


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", action="append", required=True, help="config file (repeatable)")
    parser.add_argument("--folds", type=int, default=5, help="number of folds K (book: 5)")
    args, overrides = parser.parse_known_args(argv)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    stem = Path(args.config[0]).stem
    version = datetime.now().strftime("%Y%m%d-%H%M%S")
    train_scores, valid_scores = [], []
    for i in range(args.folds):
        cli_args = [a for c in args.config for a in ("--config", c)] + [
            "--data.init_args.num_folds", str(args.folds), "--data.init_args.fold", str(i),
            "--run_name", f"{stem}_kfold", "--run_version", f"{version}/fold{i + 1}",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            *overrides]
        with known_warnings_ignored():
            cli = D2LCLI(args=cli_args, run=False)
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
            cli.finish()
        dm = cli.datamodule
        train_scores.append(dataset_log_rmse(cli.model, dm.train_set))
        valid_scores.append(dataset_log_rmse(cli.model, dm.val_set))
        print(f"fold {i + 1}, train log_rmse {train_scores[-1]:.6f}, "
              f"valid log_rmse {valid_scores[-1]:.6f}", flush=True)
    avg_train, avg_valid = statistics.mean(train_scores), statistics.mean(valid_scores)
    print(f"{args.folds}-fold results in logs/{stem}_kfold/{version}/")
    print(f"avg train log_rmse {avg_train:.6f}, avg valid log_rmse {avg_valid:.6f}", flush=True)
    return avg_train, avg_valid


if __name__ == "__main__":
    try:
        main()
    except D2LError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
