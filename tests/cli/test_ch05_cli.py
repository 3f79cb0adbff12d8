"""Chapter 5 through the CLI: the 5.1 edge kernel is learned, bf16 mixed precision and
channels_last run on CPU, initialisation is chosen from the command line, and a batch-norm model's
moving statistics survive a checkpoint."""

import pandas as pd
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

SMOKE = ["--config", str(REPO / "configs/debug/smoke.yaml")]


def cfg(path: str) -> list[str]:
    return ["--config", str(REPO / path)]


def test_conv_edge_learns_the_kernel():
    from d2l_lightning.core import load

    run_dir, out = run_cli(["fit", *cfg("configs/ch05/5.1_conv_edge.yaml"), *QUIET])
    assert "epoch 20, loss " in out
    metrics = pd.read_csv(run_dir / "metrics.csv").groupby("epoch").last()
    assert metrics["train/loss"].iloc[-1] < 0.05 < metrics["train/loss"].iloc[0]
    model = load(run_dir / "checkpoints" / "last.ckpt")
    torch.testing.assert_close(model.conv2d.weight.detach(), torch.tensor([[1.0, -1.0]]), atol=0.05, rtol=0)
    assert abs(model.conv2d.bias.item()) < 0.05


def test_lenet_bf16_channels_last_and_init_from_the_command_line(fashion_dir):
    config = "configs/ch05/5.5_lenet.yaml"
    run_dir, out = run_cli(["fit", *cfg(config), *SMOKE, *cfg("configs/trainer/bf16.yaml"),
                            *tiny_data_args(config, fashion_dir, fashion_dir),
                            "--model.init_args.channels_last", "true", "--model.init_args.init", "xavier",
                            *QUIET])
    saved = (run_dir / "config.yaml").read_text()
    assert "precision: bf16-mixed" in saved and "channels_last: true" in saved and "init: xavier" in saved
    loss = pd.read_csv(run_dir / "metrics.csv")["train/loss"].dropna()
    assert len(loss) == 1 and 0 < loss.iloc[0] < 10


def test_batch_norm_moving_statistics_survive_the_checkpoint(fashion_dir):
    from d2l_lightning.core import load
    from d2l_lightning.models import BatchNormLeNetScratch

    config = "configs/ch05/5.10_bn_lenet_scratch.yaml"
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    run_dir, _ = run_cli(["fit", *cfg(config), *data, "--trainer.max_epochs", "1", *QUIET])
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    model = load(ckpt)
    assert isinstance(model, BatchNormLeNetScratch) and not model.training
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert state["net.1.moving_mean"].abs().sum() > 0 and state["net.1.moving_var"].abs().sum() > 0
    fresh = BatchNormLeNetScratch()
    fresh.load_state_dict(state)
    fresh.eval()
    X = torch.rand(4, 1, 28, 28)
    assert torch.equal(model(X), fresh(X))
    # `test` from the checkpoint evaluates with the moving statistics: the val accuracy of training
    test_dir, _ = run_cli(["test", "--config", str(run_dir / "config.yaml"), "--ckpt_path", str(ckpt), *QUIET])
    test_acc = pd.read_csv(test_dir / "metrics.csv")["test/acc"].dropna().iloc[-1]
    val_acc = pd.read_csv(run_dir / "metrics.csv")["val/acc"].dropna().iloc[-1]
    assert test_acc == val_acc  # tiny data: the val split is the official test split
