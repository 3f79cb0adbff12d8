"""The CLI end to end, in-process: every shipped config, run artefacts, W&B offline, resume,
test/predict from a checkpoint, the k-fold script, and bad input."""

import glob
import sys

import pandas as pd
import pytest
import torch
import yaml
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

CONFIGS = sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").glob("ch*/*.yaml"))
SMOKE = ["--config", str(REPO / "configs/debug/smoke.yaml")]


def cfg(path: str) -> list[str]:
    return ["--config", str(REPO / path)]


def test_ch03_configs_are_all_there():
    names = {p.rsplit("/", 1)[-1] for p in CONFIGS if "/ch03/" in p}
    assert {"3.2_linreg_scratch.yaml", "3.3_linreg.yaml", "3.6_softmax_scratch.yaml", "3.7_softmax.yaml",
            "3.9_mlp_scratch.yaml", "3.10_mlp.yaml", "3.11_poly_normal.yaml", "3.11_poly_underfit.yaml",
            "3.11_poly_overfit.yaml", "3.12_weight_decay_scratch.yaml", "3.12_weight_decay.yaml",
            "3.13_dropout_scratch.yaml", "3.13_dropout.yaml", "3.16_kaggle_house.yaml",
            "3.16_kaggle_house_improved.yaml"} <= names


@pytest.mark.parametrize("config", CONFIGS)
def test_every_config_runs_a_few_batches(config, fashion_dir, house_dir, lyrics_dir):
    header = (REPO / config).read_text().splitlines()[0]
    assert header.startswith("# ") and config.rsplit("/", 1)[-1].split("_")[0] in header
    run_dir, out = run_cli(["fit", *cfg(config), *SMOKE,
                            *tiny_data_args(config, fashion_dir, house_dir, lyrics_dir), *QUIET])
    stem = config.rsplit("/", 1)[-1][: -len(".yaml")]
    assert run_dir.parent.name == stem and run_dir.parent.parent.name == "logs"
    for name in ("config.yaml", "metrics.csv", "curves.png", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert "epoch 1, loss " in out
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert "train/loss" in metrics and metrics["train/loss"].notna().any()


def test_print_config(capsys):
    from d2l_lightning.cli import main

    with pytest.raises(SystemExit) as e:
        main(["fit", *cfg("configs/ch03/3.7_softmax.yaml"), "--print_config"])
    assert e.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 0.1
    assert printed["trainer"]["max_epochs"] == 5


def test_run_artefacts_wandb_offline_and_separate_folders(fashion_dir, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(fashion_dir))  # no ~/.netrc login: must stay offline
    args = ["fit", *cfg("configs/ch03/3.7_softmax.yaml"), *tiny_data_args("configs/ch03/3.7_softmax.yaml",
            fashion_dir, fashion_dir), "--trainer.max_epochs", "2", *QUIET]
    run_a, out = run_cli(args)
    run_b, _ = run_cli(args)
    assert run_a != run_b and run_a.parent == run_b.parent  # same experiment, two runs
    assert f"run directory: {run_a}" in out
    saved = yaml.safe_load((run_a / "config.yaml").read_text())
    assert saved["model"]["class_path"].endswith("SoftmaxRegression") and saved["run_name"] == "3.7_softmax"
    metrics = pd.read_csv(run_a / "metrics.csv")
    assert set(metrics.columns) >= {"epoch", "train/loss", "train/acc", "val/loss", "val/acc"}
    assert metrics["val/acc"].notna().sum() == 2
    ckpts = sorted(p.name for p in (run_a / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and any(p.startswith("best-") for p in ckpts)

    from helpers import wandb_reader
    files = glob.glob(str(run_a / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    history = wandb_reader.history(files[0])
    val_acc = [row["val/acc"] for row in history if "val/acc" in row]
    assert len(val_acc) == 2 and val_acc[-1] == pytest.approx(metrics["val/acc"].dropna().iloc[-1])
    assert any("train/loss" in row for row in history)
    logged_config = wandb_reader.config(files[0])
    assert logged_config["data.init_args.batch_size"] == 16  # flat: every option a column
    assert not [k for k in logged_config if k.startswith("_") or "._" in k]  # no internal keys


def test_last_checkpoint_is_the_latest_epoch_even_without_improvement(fashion_dir):
    config = "configs/ch03/3.7_softmax.yaml"
    run_dir, _ = run_cli(["fit", *cfg(config), *tiny_data_args(config, fashion_dir, fashion_dir),
                          "--model.init_args.optimizer.init_args.lr", "1e-30", "--trainer.max_epochs", "3",
                          *QUIET])
    last = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    best = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))
    assert last["epoch"] == 2 and [p.name for p in best] == ["best-001.ckpt"]  # val/acc never improved


def _final(run_dir):
    return pd.read_csv(run_dir / "metrics.csv").groupby("epoch").last()


@pytest.mark.parametrize("config", [
    "configs/ch03/3.13_dropout_scratch.yaml",  # dropout: needs the RNG state restored
    "configs/ch07/7.8_adam.yaml",  # a stateful optimizer of ours, validated inside epochs
])
def test_resume_equals_uninterrupted_run(config, fashion_dir, house_dir):
    base = ["fit", *cfg(config), *tiny_data_args(config, fashion_dir, house_dir), *QUIET]
    straight, _ = run_cli([*base, "--trainer.max_epochs", "2"])
    first, _ = run_cli([*base, "--trainer.max_epochs", "1"])
    resumed, _ = run_cli([*base, "--trainer.max_epochs", "2",
                          "--ckpt_path", str(first / "checkpoints" / "last.ckpt")])
    assert resumed.resolve() == first.resolve()  # the same run, continued in its folder
    a, b = _final(straight), _final(resumed)
    for col in ("train/loss", "train/acc", "val/loss", "val/acc"):
        if col in a:
            assert list(a[col]) == list(b[col]), col  # both epochs, as if never interrupted
    sa = torch.load(straight / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    sb = torch.load(resumed / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_an_epoch_cut_short_by_max_steps_logs_its_train_metrics():
    # 3.3: 100 batches per epoch; max_steps 150 stops halfway through the second epoch
    run_dir, _ = run_cli(["fit", *cfg("configs/ch03/3.3_linreg.yaml"), "--trainer.max_steps", "150",
                          "--trainer.max_epochs", "5", *QUIET])
    assert list(_final(run_dir)["train/loss"].notna()) == [True, True]


def test_test_and_predict_from_checkpoint(fashion_dir):
    config = "configs/ch03/3.10_mlp.yaml"
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    run_dir, _ = run_cli(["fit", *cfg(config), *data, "--trainer.max_epochs", "1", *QUIET])
    saved, ckpt = run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt"
    test_dir, out = run_cli(["test", "--config", str(saved), "--ckpt_path", str(ckpt), *QUIET])
    assert test_dir != run_dir and test_dir.parent == run_dir.parent
    assert "test/acc" in pd.read_csv(test_dir / "metrics.csv")
    assert (test_dir / "curves.png").is_file()
    pred_dir, out = run_cli(["predict", "--config", str(saved), "--ckpt_path", str(ckpt), *QUIET])
    preds = pd.read_csv(pred_dir / "predictions.csv")
    assert f"written to {pred_dir / 'predictions.csv'}" in out
    assert (pred_dir / "curves.png").is_file()  # the training curves of the checkpoint's run
    assert len(preds) == 48 and {"pred", "pred_label", "prob", "target", "target_label"} <= set(preds)
    assert set(preds["pred_label"]) <= set(__import__("d2l_lightning").datamodules.FashionMNIST.labels)


def test_load_helper_restores_the_trained_model(fashion_dir):
    from d2l_lightning.core import load
    from d2l_lightning.models import DropoutMLP

    config = "configs/ch03/3.13_dropout.yaml"
    run_dir, _ = run_cli(["fit", *cfg(config), *tiny_data_args(config, fashion_dir, fashion_dir),
                          "--trainer.max_epochs", "1", "--model.init_args.num_hiddens1", "32", *QUIET])
    model = load(run_dir / "checkpoints" / "last.ckpt")
    assert isinstance(model, DropoutMLP) and not model.training
    assert model.net[1].out_features == 32


def test_kaggle_house_kfold_and_submission(house_dir, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import kfold

    config = "configs/ch03/3.16_kaggle_house.yaml"
    data = tiny_data_args(config, house_dir, house_dir)
    avg_train, avg_valid = kfold.main(["--config", str(REPO / config), "--folds", "3",
                                       "--trainer.max_epochs", "2", *data])
    out = capsys.readouterr().out
    assert f"avg train log_rmse {avg_train:.6f}, avg valid log_rmse {avg_valid:.6f}" in out
    assert out.count("fold ") >= 3 and avg_valid > 0
    assert len(list((REPO / "logs").glob("x"))) == 0  # nothing written into the repository
    run_dir, _ = run_cli(["fit", *cfg(config), *data, "--trainer.max_epochs", "2", *QUIET])
    pred_dir, _ = run_cli(["predict", "--config", str(run_dir / "config.yaml"),
                           "--ckpt_path", str(run_dir / "checkpoints/last.ckpt"), *QUIET])
    sub = pd.read_csv(pred_dir / "submission.csv")
    assert list(sub.columns) == ["Id", "SalePrice"] and len(sub) == 20 and sub["Id"].iloc[0] == 61


@pytest.mark.parametrize("args, message", [
    (["--config", "does/not/exist.yaml"], "does/not/exist.yaml"),
    (["--model", "NoSuchModel"], "NoSuchModel"),
    (["--data", "NoSuchData"], "NoSuchData"),
    (["--data.init_args.resize", "0"], "resize must be at least 1 (or null), got 0"),
    (["--data.init_args.batch_size", "0"], "batch_size must be at least 1, got 0"),
    (["--data.init_args.batch_size", "many"], "batch_size"),
    (["--model.init_args.dropout1", "1.0"], "dropout1 must be in [0, 1), got 1.0"),
    (["--model.init_args.optimizer.init_args.lr", "-0.1"], "lr must be greater than 0, got -0.1"),
])
def test_bad_input_is_one_clear_error(args, message, fashion_dir, capsys):
    config = "configs/ch03/3.13_dropout_scratch.yaml"
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", *cfg(config), *tiny_data_args(config, fashion_dir, fashion_dir), *args, *QUIET])
    assert e.value.code not in (0, None)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
