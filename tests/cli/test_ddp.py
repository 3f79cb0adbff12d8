"""DDP on 2 CPU processes (gloo): the model code gives the gradients of the whole batch, lazy
layers and SyncBatchNorm included; a CLI run logs once, its checkpoint loads in one process, and
its validation accuracy equals the single-process value."""

import glob
import os

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from d2l_lightning.core import Classifier
from d2l_lightning.models import MLP, HousePriceRegression
from d2l_lightning.scratch.conv import BatchNorm

pytestmark = pytest.mark.multiprocess  # every test here starts DDP ranks as processes


class BNNet(Classifier):
    """A small classifier with batch normalisation (its statistics differ per rank unless synced):
    torch's, or our scratch one, with its statistics over all ranks (`sync`)."""

    def __init__(self, scratch_sync: bool = False):
        super().__init__(num_classes=3)
        norm = BatchNorm(8, num_dims=2) if scratch_sync else nn.BatchNorm1d(8)
        norm.sync = scratch_sync
        self.net = nn.Sequential(nn.Linear(6, 8), norm, nn.ReLU(), nn.Linear(8, 3))

    def forward(self, X):
        return self.net(X)


def build(name: str):
    torch.manual_seed(0)
    if name == "mlp":
        return MLP(num_inputs=6, num_hiddens=8, num_outputs=3), torch.randn(8, 6), torch.randint(0, 3, (8,))
    if name == "lazy":
        model = HousePriceRegression(num_hiddens=[4])
        X = torch.randn(8, 6)
        with torch.no_grad():
            model(X[:2])  # materialise the lazy layer before DDP wraps the model
        model.init_weights()
        return model, X, torch.rand(8, 1) * 1e5 + 1e5
    return BNNet(scratch_sync=name == "bn_sync"), torch.randn(8, 6), torch.randint(0, 3, (8,))


NAMES = ["mlp", "lazy", "bn", "bn_sync"]


def _worker(rank: int, world: int, out_dir: str) -> None:
    # a file rendezvous: no TCP port to pick (and race for)
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=world)
    for name in NAMES:  # one process group for every model: spawning costs seconds
        model, X, y = build(name)
        ddp = DistributedDataParallel(model)
        part = slice(rank * len(X) // world, (rank + 1) * len(X) // world)
        model.loss(ddp(X[part]), y[part]).backward()
        if rank == 0:
            grads = {n: p.grad for n, p in model.named_parameters()}
            torch.save(grads, os.path.join(out_dir, f"{name}.pt"))
    dist.barrier()
    dist.destroy_process_group()
    # Skip interpreter teardown: gloo's threads sometimes abort it ("terminate called without an
    # active exception", SIGABRT) after all the work is done and saved.
    os._exit(0)


@pytest.fixture(scope="module")
def ddp_grads(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(out)), nprocs=2, join=True)
    return {name: torch.load(out / f"{name}.pt", weights_only=True) for name in NAMES}


def _single_process_grads(name):
    model, X, y = build(name)
    model.loss(model(X), y).backward()  # one process, the whole batch
    return {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", ["mlp", "lazy", "bn_sync"])
def test_ddp_gradients_equal_single_process_gradients(name, ddp_grads):
    single = _single_process_grads(name)
    for n, g in single.items():
        assert torch.allclose(ddp_grads[name][n], g, rtol=1e-5, atol=1e-6), n


def test_batchnorm_under_ddp_needs_sync(ddp_grads):
    """Plain BatchNorm normalises each rank's half batch with its own statistics, so its DDP
    gradients are not those of the whole batch (with `sync`, our scratch BatchNorm's are: above).
    `trainer.sync_batchnorm: true` turns torch's into SyncBatchNorm, which torch runs on GPUs only
    (not tested on this CPU machine), and turns on our scratch BatchNorm's `sync` (tested below)."""
    single = _single_process_grads("bn")
    assert not all(torch.allclose(ddp_grads["bn"][n], g, rtol=1e-4) for n, g in single.items())


def test_ddp_cli_run_logs_once_and_matches_single_process(fashion_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")  # W&B offline (no login in this HOME): one run, from rank 0
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = "configs/ch03/3.10_mlp.yaml"
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    run_dir, out = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "2",
                            "--trainer.accelerator", "cpu", "--trainer.devices", "2",
                            "--trainer.strategy", "ddp_spawn", *QUIET])
    runs = list((run_dir.parent).iterdir())
    assert runs == [run_dir]  # one run directory, written by rank 0 only
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["val/acc"].notna().sum() == 2 and f"run directory: {run_dir}" in out
    from helpers import wandb_reader

    wandb_runs = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(wandb_runs) == 1 and len(list(tmp_path.rglob("offline-run-*"))) == 1  # none from rank 1
    logged = [row["val/acc"] for row in wandb_reader.history(wandb_runs[0]) if "val/acc" in row]
    assert logged == pytest.approx(metrics["val/acc"].dropna().tolist())
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    # the DDP checkpoint loads in a single process, and validating it there gives the same accuracy
    single, _ = run_cli(["validate", "--config", str(run_dir / "config.yaml"), "--ckpt_path", str(ckpt),
                         "--trainer.devices", "1", "--trainer.strategy", "auto", *QUIET])
    val_single = pd.read_csv(single / "metrics.csv")["val/acc"].dropna().iloc[-1]
    assert val_single == pytest.approx(metrics["val/acc"].dropna().iloc[-1], abs=1e-6)


def test_ddp_checkpoint_written_mid_epoch_keeps_both_ranks_train_sums(fashion_dir, house_dir):
    """Validation inside an epoch (chapter 7 validates every batch here) saves checkpoints mid-epoch:
    every rank takes part (the running train sums are reduced, so a hang would show here) and the
    saved sums count both ranks' samples, ready for an exact resume."""
    config = "configs/ch07/7.3_sgd_minibatch.yaml"
    data = tiny_data_args(config, fashion_dir, house_dir)
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_steps", "2",
                          "--trainer.accelerator", "cpu", "--trainer.devices", "2",
                          "--trainer.strategy", "ddp_spawn", *QUIET])
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 2
    total, count = state["d2l_train_sums"]["train/loss"]
    assert count == 2 * 2 * 10 and torch.isfinite(total)  # 2 ranks x 2 batches of 10


def test_sync_batchnorm_from_config_syncs_the_scratch_batchnorm_under_ddp(fashion_dir):
    """`--trainer.sync_batchnorm true` with 5.10's scratch BN-LeNet on 2 CPU processes: the plugin
    turns `sync` on for training and off again, so the DDP checkpoint validates in one process."""
    from d2l_lightning.plugins import SyncBatchNorms

    scratch, torch_bn = BNNet(scratch_sync=True), BNNet()
    scratch.net[1].sync = False
    assert SyncBatchNorms().apply(scratch).net[1].sync and not SyncBatchNorms().revert(scratch).net[1].sync
    assert isinstance(SyncBatchNorms().apply(torch_bn).net[1], nn.SyncBatchNorm)
    config = "configs/ch05/5.10_bn_lenet_scratch.yaml"
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "1",
                          "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy",
                          "ddp_spawn", "--trainer.sync_batchnorm", "true", *QUIET])
    assert pd.read_csv(run_dir / "metrics.csv")["train/loss"].notna().any()
    single, _ = run_cli(["validate", "--config", str(run_dir / "config.yaml"),
                         "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), "--trainer.devices", "1",
                         "--trainer.strategy", "auto", "--trainer.sync_batchnorm", "false", *QUIET])
    assert pd.read_csv(single / "metrics.csv")["val/acc"].notna().any()
