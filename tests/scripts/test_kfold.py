"""scripts/kfold.py (3.16): readable output, kfold.csv, and the folds as one W&B group (offline)."""

import csv
import importlib
import sys
import time

import pytest
from helpers.cli import REPO, tiny_data_args
from helpers.wandb_reader import _records
from wandb.proto import wandb_internal_pb2

CONFIG = "configs/ch03/3.16_kaggle_house.yaml"


def script(name: str):
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module(name)


def wandb_run(folder, summary_key: str) -> dict:
    """Name, group, tags and summary of the one offline W&B run under `folder/wandb/`. W&B's
    service writes the file after `finish()` returns: waits (up to 30 s) for `summary_key`."""
    files = sorted(folder.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    for _ in range(300):
        info = {"summary": {}}
        for raw in _records(files[0].read_bytes()):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
                info.update(name=run.display_name, group=run.run_group, tags=list(run.tags))
            elif kind == "summary":
                for item in record.summary.update:
                    info["summary"][item.key or "/".join(item.nested_key)] = item.value_json
        if "name" in info and summary_key in info["summary"]:
            return info
        time.sleep(0.1)
    raise AssertionError(f"{files[0]}: no run record with {summary_key} in its summary")


def test_kfold_prints_a_line_per_fold_writes_kfold_csv_and_groups_the_folds_in_wandb(
        house_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    kfold = script("kfold")
    data = tiny_data_args(CONFIG, house_dir, house_dir)
    args = ["--config", str(REPO / CONFIG), "--folds", "3", "--trainer.max_epochs", "1", *data]
    avg_train, avg_valid = kfold.main(args)
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    # one line per fold, the averages, where the files are, the W&B group: no epoch lines, no banners
    assert [line.split(",")[0] for line in lines[:3]] == ["fold 1", "fold 2", "fold 3"]
    assert lines[3] == f"avg train log_rmse {avg_train:.6f}, avg valid log_rmse {avg_valid:.6f}"
    assert len(lines) == 7 and lines[4].endswith("kfold.csv") and lines[5].startswith("folds: ")
    assert lines[6].startswith("W&B (offline): group ")
    assert "epoch 1," not in captured.out + captured.err and "GPU available" not in captured.err

    (kfold_dir,) = (tmp_path / "logs" / "3.16_kaggle_house_kfold").iterdir()
    rows = list(csv.DictReader(open(kfold_dir / "kfold.csv")))
    assert [r["fold"] for r in rows] == ["1", "2", "3", "mean"]
    assert float(rows[-1]["valid_log_rmse"]) == pytest.approx(avg_valid, abs=1e-6)
    assert float(rows[-1]["train_log_rmse"]) == pytest.approx(avg_train, abs=1e-6)

    group = f"3.16_kaggle_house_kfold-{kfold_dir.name}"
    for i, row in enumerate(rows[:3], start=1):
        fold_dir = kfold_dir / f"fold{i}"
        assert row["run_dir"].endswith(f"fold{i}") and "epoch 1," in (fold_dir / "output.log").read_text()
        run = wandb_run(fold_dir, "kfold/valid_log_rmse")
        assert (run["name"], run["group"]) == (f"fold{i}", group) and "kfold" in run["tags"]
        logged = float(run["summary"]["kfold/valid_log_rmse"])
        assert logged == pytest.approx(float(row["valid_log_rmse"]), abs=1e-6)
    summary = wandb_run(kfold_dir, "kfold/folds/nrows")
    assert (summary["name"], summary["group"]) == ("summary", group)
    assert float(summary["summary"]["kfold/avg_valid_log_rmse"]) == pytest.approx(avg_valid)
    assert float(summary["summary"]["kfold/avg_train_log_rmse"]) == pytest.approx(avg_train)
    assert "kfold/folds/nrows" in summary["summary"]  # the per-fold table
