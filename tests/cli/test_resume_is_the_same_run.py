"""`fit --ckpt_path` of a run's checkpoint continues that run: its folder, its metrics.csv (rows
written after the checkpoint dropped) and its W&B run id, without warnings about either."""

import glob
import re
import warnings

import pandas as pd
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from pytorch_lightning.callbacks import ModelCheckpoint

CONFIG = "configs/ch03/3.7_softmax.yaml"


def test_resumed_fit_continues_folder_metrics_and_wandb_run(fashion_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    args = ["fit", "--config", str(REPO / CONFIG), *tiny_data_args(CONFIG, fashion_dir, fashion_dir), *QUIET]
    first, _ = run_cli([*args, "--trainer.max_epochs", "2"])
    ckpt = first / "checkpoints" / "last.ckpt"
    epoch_1 = first / "checkpoints" / "epoch1.ckpt"
    ckpt.rename(epoch_1)  # resume from the end of epoch 2 of 2 ...
    # the latest-state callback keeps plain ModelCheckpoint's key, so older checkpoints resume too
    keys = torch.load(epoch_1, weights_only=False, map_location="cpu")["callbacks"]
    assert [k for k in keys if k.startswith("ModelCheckpoint{'monitor': None")] == [
        ModelCheckpoint(dirpath=first, filename="last", monitor=None).state_key]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed, out = run_cli([*args, "--trainer.max_epochs", "3", "--ckpt_path", str(epoch_1)])
    assert resumed.resolve() == first.resolve() and f"run directory: {first}" in out
    metrics = pd.read_csv(resumed / "metrics.csv")
    assert sorted(metrics["epoch"].unique()) == [0, 1, 2]
    assert metrics.groupby("epoch")["val/acc"].count().tolist() == [1, 1, 1]  # no row twice
    texts = [str(w.message) for w in caught]
    unwanted = "dirpath has changed|exists and is not empty|will be deleted"
    assert not [t for t in texts if re.search(unwanted, t)], texts
    ids = {p.rsplit("-", 1)[-1] for p in glob.glob(str(first / "wandb" / "offline-run-*"))}
    assert len(glob.glob(str(first / "wandb" / "offline-run-*"))) == 2 and len(ids) == 1  # one W&B run


def test_resume_from_an_earlier_checkpoint_drops_the_rows_written_after_it(fashion_dir):
    args = ["fit", "--config", str(REPO / CONFIG), *tiny_data_args(CONFIG, fashion_dir, fashion_dir), *QUIET]
    first, _ = run_cli([*args, "--trainer.max_epochs", "1"])
    kept = first / "checkpoints" / "after-epoch-1.ckpt"
    (first / "checkpoints" / "last.ckpt").rename(kept)
    run_cli([*args, "--trainer.max_epochs", "3", "--ckpt_path", str(kept)])  # epochs 2 and 3 ...
    before = pd.read_csv(first / "metrics.csv")
    assert sorted(before["epoch"].unique()) == [0, 1, 2]
    run_cli([*args, "--trainer.max_epochs", "2", "--ckpt_path", str(kept)])  # ... redone from epoch 1
    after = pd.read_csv(first / "metrics.csv")
    assert sorted(after["epoch"].unique()) == [0, 1]
    timing = ["train/epoch_time", "train/samples_per_sec"]  # wall-clock: differs between any two runs
    pd.testing.assert_frame_equal(after.drop(columns=timing),
                                  before[before["epoch"] <= 1].reset_index(drop=True).drop(columns=timing))
