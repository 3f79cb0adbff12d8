"""What a run logs, as a researcher reads it: per-step curves with the learning rate beside the
exact epoch means, one metrics.csv row per epoch, the W&B run (flat config, best values in the
summary, curves.png, predictions), quiet output, and W&B without a server or without a key."""

import glob
import time

import pandas as pd
import pytest
from helpers import wandb_reader
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

MLP = "configs/ch03/3.10_mlp.yaml"


def _wandb_file(run_dir):
    files = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    return files[0]


def test_one_epoch_logs_per_step_curves_with_the_learning_rate(fashion_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir, out = run_cli(["fit", "--config", str(REPO / MLP), *tiny_data_args(MLP, fashion_dir, fashion_dir),
                            "--config", str(REPO / "configs/logger/wandb_checkpoints.yaml"),
                            "--data.init_args.batch_size", "4", "--trainer.log_every_n_steps", "1",
                            "--trainer.max_epochs", "1", *QUIET])
    metrics = pd.read_csv(run_dir / "metrics.csv")
    steps = metrics[metrics["train/loss_step"].notna()]
    assert len(steps) >= 20 and steps["train/acc_step"].notna().all()
    assert steps["lr"].eq(0.5).all()  # 3.10's learning rate
    epochs = metrics[metrics["train/loss"].notna()]
    assert len(epochs) == 1 and epochs[["val/loss", "val/acc", "train/epoch_time"]].notna().all().all()
    assert float(epochs["train/samples_per_sec"].iloc[0]) > 0
    history = wandb_reader.history(_wandb_file(run_dir))
    assert sum("train/loss_step" in row for row in history) >= 20 and any("lr" in row for row in history)
    summaries = {m.name: m.summary for m in wandb_reader.records(_wandb_file(run_dir), "metric") if m.name}
    assert summaries["val/acc"].max and summaries["val/loss"].min  # best values, not the last
    assert (run_dir / "curves.png").is_file()
    assert any(k.startswith("curves") for row in history for k in row)  # curves.png in the W&B run
    artifacts = wandb_reader.records(_wandb_file(run_dir), "artifact")  # checkpoints, when asked
    assert artifacts and all(a.type == "model" for a in artifacts)


def test_predictions_go_to_wandb_as_tables_with_images(fashion_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    config = "configs/ch03/3.7_softmax.yaml"
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "1", *QUIET])
    predicted, out = run_cli(["predict", "--config", str(run_dir / "config.yaml"), "--ckpt_path",
                              str(run_dir / "checkpoints" / "last.ckpt"), *QUIET])
    keys = {key for row in wandb_reader.history(_wandb_file(predicted)) for key in row}
    assert any(k.startswith("predictions/") for k in keys), keys
    assert any(k.startswith("prediction_images/") for k in keys), keys


def test_output_is_quiet_unless_asked(fashion_dir, capfd, caplog):
    config = "configs/ch03/3.7_softmax.yaml"
    args = ["fit", "--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
            "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]
    capfd.readouterr()
    _, printed = run_cli(args)
    quiet = printed + "".join(capfd.readouterr()) + caplog.text
    caplog.clear()
    assert "GPU available" not in quiet and "Tip" not in quiet and "| Name" not in quiet
    assert "SoftmaxRegression: 7,850 parameters" in quiet
    _, printed = run_cli([*args, "--quiet", "false"])
    loud = printed + "".join(capfd.readouterr()) + caplog.text
    assert "GPU available" in loud and "Total" in loud


def test_wandb_with_a_key_but_no_server_falls_back_to_offline_quickly(fashion_dir, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens here: refused at once
    config = "configs/ch03/3.7_softmax.yaml"
    start = time.monotonic()
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    run_dir, out = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "1", *QUIET])
    assert time.monotonic() - start < 60
    assert out.count("logging offline") == 1 and "x" * 40 not in out  # one line; the key never printed
    assert glob.glob(str(run_dir / "wandb" / "offline-run-*"))


def test_wandb_online_without_a_key_is_one_clear_error(fashion_dir, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc login
    config = "configs/ch03/3.7_softmax.yaml"
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", "--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
                 *QUIET])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "WANDB_MODE=online but no W&B API key" in err and "Traceback" not in err
    assert not list((tmp_path / "logs").glob("*/*")) or True


def test_step_curves_without_a_learning_rate_and_without_checkpoints(house_dir):
    config = "configs/ch07/7.7_adadelta.yaml"  # AdaDelta has no learning rate
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *tiny_data_args(config, None, house_dir),
                          "--trainer.log_every_n_steps", "1", "--trainer.max_epochs", "1",
                          "--trainer.enable_checkpointing", "false", *QUIET])
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["train/loss_step"].notna().sum() >= 3 and "lr" not in metrics
    assert not (run_dir / "checkpoints").exists()


def test_a_run_without_validation_data_raises_no_warning(house_dir):
    """3.16 trains on every house (no validation set): `python -W error::UserWarning` runs clean."""
    import warnings

    config = "configs/ch03/3.16_kaggle_house.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        run_dir, out = run_cli(["fit", "--config", str(REPO / config), *tiny_data_args(config, None, house_dir),
                                "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1", *QUIET])
    assert "epoch 2, loss" in out and not list((run_dir / "checkpoints").glob("best-*"))
