"""Faults and bad input: NaN loss, garbage and foreign checkpoints, `--ckpt_path last`, SIGTERM
during fit (a real subprocess and a real signal), checkpoint writes that fail midway."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

LINREG = ["--config", str(REPO / "configs/ch03/3.3_linreg.yaml")]


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(capsys):
    # lr 1.1 makes this linear regression blow up: finite through epoch 1, NaN early in epoch 2
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", *LINREG, "--model.init_args.optimizer.init_args.lr", "1.1",
                 "--trainer.max_epochs", "3", *QUIET])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "became NaN or infinite at step" in err and "(epoch 2)" in err and "Traceback" not in err
    ckpt = err.split("The last good checkpoint, ")[1].split(",")[0]
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_sigterm_after_the_loss_became_nan_saves_nothing(tmp_path, capsys):
    # NaN at step 161 (above); the guard reads its buffer at step 200: SIGTERM comes at step 171
    hook = tmp_path / "signal.yaml"
    hook.write_text("trainer:\n  callbacks:\n    - class_path: helpers.signal_at.SignalAt\n"
                    "      init_args: {epoch: 1, batch: 70}\n")
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", *LINREG, "--model.init_args.optimizer.init_args.lr", "1.1",
                 "--trainer.max_epochs", "3", "--config", str(hook), *QUIET])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "received SIGTERM, but the training loss became NaN or infinite at step" in err
    ckpt = err.split("The last good checkpoint, ")[1].split(",")[0]
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_garbage_and_foreign_checkpoints_are_refused(tmp_path, fashion_dir, capsys):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(1000))
    for ckpt, message in ((garbage, "is not a readable checkpoint"), (tmp_path / "nope.ckpt", "no such file")):
        with pytest.raises(SystemExit) as e:
            run_cli(["test", *LINREG, "--ckpt_path", str(ckpt), *QUIET])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    mlp = "configs/ch03/3.10_mlp.yaml"
    run_dir, _ = run_cli(["fit", "--config", str(REPO / mlp), *tiny_data_args(mlp, fashion_dir, fashion_dir),
                          "--trainer.max_epochs", "1", *QUIET])
    softmax = "configs/ch03/3.7_softmax.yaml"
    with pytest.raises(SystemExit):
        run_cli(["test", "--config", str(REPO / softmax), *tiny_data_args(softmax, fashion_dir, fashion_dir),
                 "--ckpt_path", str(run_dir / "checkpoints/last.ckpt"), *QUIET])
    err = capsys.readouterr().err
    assert "is of another model than SoftmaxRegression" in err and "instead of" in err
    assert "Traceback" not in err


def test_ckpt_path_last_resumes_the_latest_run(capsys):
    first, _ = run_cli(["fit", *LINREG, "--trainer.max_epochs", "1", *QUIET])
    resumed, out = run_cli(["fit", *LINREG, "--trainer.max_epochs", "2", "--ckpt_path", "last", *QUIET])
    assert f"resuming from {first / 'checkpoints' / 'last.ckpt'}" in out
    assert "epoch 2, loss" in out and "epoch 1, loss" not in out
    with pytest.raises(SystemExit):
        run_cli(["fit", "--config", str(REPO / "configs/ch03/3.2_linreg_scratch.yaml"), "--ckpt_path", "last",
                 *QUIET])
    assert "no earlier run of '3.2_linreg_scratch'" in capsys.readouterr().err


@pytest.mark.multiprocess
def test_sigterm_during_fit_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "d2l_lightning", "fit", *LINREG, "--trainer.max_epochs", "100000", *QUIET]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    deadline = time.time() + 120
    for line in proc.stdout:  # wait until training is under way
        lines.append(line)
        if line.startswith("epoch 2,") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    text = "".join(lines) + out
    assert proc.returncode == 0, text[-2000:]
    assert "received SIGTERM" in text and "--ckpt_path last" in text
    run_dir = tmp_path / text.split("run directory: ")[-1].strip().splitlines()[0]
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] >= 1
    os.chdir(tmp_path)  # resume in-process from that run, one more epoch
    resumed, out = run_cli(["fit", *LINREG, "--ckpt_path", "last",
                            "--trainer.max_epochs", str(state["epoch"] + 2), *QUIET])
    assert "resuming from" in out and f"epoch {state['epoch'] + 2}, loss" in out


@pytest.mark.multiprocess
@pytest.mark.parametrize("batch", [None, 2], ids=["at-epoch-end", "mid-epoch"])
def test_run_killed_by_sigterm_and_resumed_equals_uninterrupted_run(batch, tmp_path, fashion_dir):
    """A real SIGTERM in a real CLI process (sent by the process to itself at a known point), then
    `fit --ckpt_path last`: the same metrics and weights as a run that was never interrupted."""
    config = "configs/ch03/3.13_dropout.yaml"  # dropout and shuffled batches: RNG and data order matter
    args = ["--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
            "--trainer.max_epochs", "3", *QUIET]
    straight, _ = run_cli(["fit", *args, "--run_name", "straight"])
    hook = tmp_path / "signal.yaml"
    hook.write_text("trainer:\n  callbacks:\n    - class_path: helpers.signal_at.SignalAt\n"
                    f"      init_args: {{epoch: 1, batch: {'null' if batch is None else batch}}}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    where = "after epoch 2 " if batch is None else "in epoch 2 after 3 of its 6 batches"
    proc = subprocess.run([sys.executable, "-m", "d2l_lightning", "fit", *args, "--config", str(hook)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and where in proc.stdout, proc.stdout + proc.stderr[-3000:]
    killed = Path(proc.stdout.split("run directory: ")[-1].strip().splitlines()[0])
    assert pd.read_csv(killed / "metrics.csv")["epoch"].max() == (1 if batch is None else 0)
    resumed, out = run_cli(["fit", *args, "--ckpt_path", "last"])
    assert f"resuming from {killed / 'checkpoints' / 'last.ckpt'}" in out
    # resuming is the same run: its folder, and one metrics.csv with every epoch, as if uninterrupted
    assert resumed.resolve() == killed.resolve()
    a, b = _per_epoch(straight), _per_epoch(resumed)
    assert list(b.index) == [0, 1, 2]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    sa = torch.load(straight / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    sb = torch.load(resumed / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.multiprocess
@pytest.mark.slow  # ~55 s of three 2-process runs: `make test-all`; the SLURM requeue test covers the same path
def test_ddp_run_killed_by_sigterm_mid_epoch_and_resumed_equals_uninterrupted_run(tmp_path, fashion_dir):
    """The same under DDP (`configs/trainer/ddp_cpu.yaml`: 2 CPU processes started by Lightning's
    launcher, as a cluster would run them): every rank gets SIGTERM in epoch 2 (as SLURM signals
    every task), all save the checkpoint together, and the resumed DDP run ends like the
    uninterrupted one."""
    config = "configs/ch03/3.13_dropout.yaml"
    args = ["--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
            "--config", str(REPO / "configs/trainer/ddp_cpu.yaml"), "--trainer.max_epochs", "2", *QUIET]
    hook = tmp_path / "signal.yaml"
    hook.write_text("trainer:\n  callbacks:\n    - class_path: helpers.signal_at.SignalAt\n"
                    "      init_args: {epoch: 1, batch: 0}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    env.pop("D2L_RUN_DIR", None)

    def cli(*extra):
        proc = subprocess.run([sys.executable, "-m", "d2l_lightning", "fit", *args, *extra], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc.stdout, tmp_path / proc.stdout.split("run directory: ")[-1].strip().splitlines()[0]

    _, straight = cli("--run_name", "straight")
    out, killed = cli("--config", str(hook))
    assert "received SIGTERM in epoch 2 after 1 of its 3 batches" in out, out
    out, resumed = cli("--ckpt_path", "last")
    assert f"resuming from {killed.relative_to(tmp_path) / 'checkpoints' / 'last.ckpt'}" in out
    assert resumed.resolve() == killed.resolve()
    a, b = _per_epoch(straight), _per_epoch(resumed)
    assert list(b.index) == [0, 1]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    sa = torch.load(straight / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    sb = torch.load(resumed / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def _per_epoch(run_dir):
    # (wall-clock columns differ between any two runs)
    metrics = pd.read_csv(run_dir / "metrics.csv").drop(
        columns=["step", "train/epoch_time", "train/samples_per_sec"], errors="ignore")
    return metrics.groupby("epoch").last()


def test_a_checkpoint_write_that_fails_midway_leaves_the_old_file(tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileOpener
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    path = tmp_path / "last.ckpt"
    io = TorchCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    good = path.read_bytes()

    def broken_write(self, data):
        self.f.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(LocalFileOpener, "write", broken_write)
    with pytest.raises(OSError):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}}, path)
    assert path.read_bytes() == good
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(3))


def test_bf16_mixed_precision_and_compile_on_cpu(fashion_dir):
    config = "configs/ch03/3.10_mlp.yaml"
    data = tiny_data_args(config, fashion_dir, fashion_dir)
    smoke = ["--config", str(REPO / "configs/debug/smoke.yaml")]
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, *smoke,
                          "--config", str(REPO / "configs/trainer/bf16.yaml"), *QUIET])
    assert (run_dir / "checkpoints/last.ckpt").is_file()
    # compile in place: the checkpoint's keys are the plain model's, loadable without compile
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, *smoke,
                          "--config", str(REPO / "configs/trainer/compile.yaml"),
                          "--trainer.callbacks.init_args.backend", "aot_eager", *QUIET])
    keys = set(torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"])
    assert keys == {"net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias"}
    from d2l_lightning.core import load

    assert load(run_dir / "checkpoints/last.ckpt").net[1].weight.shape == (256, 784)


def test_invalid_yaml_config_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  class_path: [unclosed\n")
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", "--config", str(bad), *QUIET])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"config file {bad} is not valid YAML at line 3" in err and "Traceback" not in err
