"""The stop signals in one process, with a real signal at a chosen batch: SIGUSR1 under (the
environment of) SLURM saves, requeues through `scontrol` and keeps Lightning's own SLURM handler out;
outside a fit every signal is as it was before."""

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from helpers.cluster import fake_slurm, records
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities.exceptions import SIGTERMException

from d2l_lightning.callbacks import LostRankWatch, SaveOnSignal
from d2l_lightning.errors import ConfigError


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.net(batch[0]).pow(2).mean()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(8, 2)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class SendAt(pl.Callback):
    def __init__(self, signum, batch):
        self.signum, self.batch, self.handler = signum, batch, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == self.batch:
            self.handler = signal.getsignal(self.signum)
            os.kill(os.getpid(), self.signum)


def _fit(tmp_path, *callbacks, **kwargs):
    saver = SaveOnSignal(tmp_path)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, callbacks=[*callbacks, saver],
                         **kwargs)
    trainer.fit(Tiny())
    return saver, trainer


def test_sigusr1_under_slurm_saves_requeues_and_keeps_lightnings_handler_out(tmp_path, monkeypatch, capsys):
    bin_dir = fake_slurm(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(tmp_path))
    (tmp_path / "tasks.pid").write_text("")
    for key, value in {"SLURM_JOB_ID": "4321", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "job",
                       "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
                       "SLURM_NODELIST": "localhost"}.items():
        monkeypatch.setenv(key, value)
    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGINT)}
    send = SendAt(signal.SIGUSR1, batch=1)
    with pytest.raises(SIGTERMException) as stop:
        _fit(tmp_path, send, max_epochs=1)
    assert stop.value.code is None  # exit status 0
    assert getattr(send.handler, "__self__", None).__class__ is SaveOnSignal  # ours, not Lightning's
    assert records(tmp_path, "scontrol.log") == ["requeue 4321"]
    out = capsys.readouterr().out
    assert "received SIGUSR1 in epoch 1 after 2 of its 4 batches (step 2)" in out
    assert "Requeued SLURM job 4321" in out
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 2 and not list(tmp_path.glob("hpc_ckpt_*"))
    assert SLURMEnvironment.detect()
    for s, handler in before.items():
        signal.signal(s, handler)


def test_sigint_stops_with_status_130_and_a_finished_fit_leaves_the_signals_as_they_were(tmp_path, capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    _fit(tmp_path, max_epochs=1)
    assert {s: signal.getsignal(s) for s in before} == before
    with pytest.raises(SIGTERMException) as stop:
        _fit(tmp_path, SendAt(signal.SIGINT, batch=0), max_epochs=1)
    assert stop.value.code == 130
    out = capsys.readouterr().out
    assert "received SIGINT in epoch 1 after 1 of its 4 batches (step 1)" in out and "--ckpt_path last" in out
    for s, handler in before.items():
        signal.signal(s, handler)


def test_lost_rank_watch_timeout_must_span_a_few_intervals():
    with pytest.raises(ConfigError, match="LostRankWatch timeout"):
        LostRankWatch(timeout=2, interval=1)
    assert LostRankWatch(timeout=3, interval=1).timeout == 3


def test_a_requeued_job_whose_run_finished_exits_0_and_changes_nothing(fashion_dir, tmp_path, monkeypatch,
                                                                        capsys):
    """SLURM may requeue a job after its training finished (a node lost afterwards, an admin's
    `scontrol requeue`): the job finds its complete run, says so and succeeds."""
    from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

    for key, value in {"SLURM_JOB_ID": "4322", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "job",
                       "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
                       "SLURM_NODELIST": "localhost"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    config = "configs/ch03/3.7_softmax.yaml"
    args = ["fit", "--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
            "--trainer.max_epochs", "1", *QUIET]
    run_dir, _ = run_cli(args)
    assert run_dir.name == "slurm-4322"
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    again, out = run_cli(args)  # returns: exit status 0
    assert again is None
    assert f"its run {run_dir} already trained 1 epoch(s)" in out
    assert "nothing left to do" in out
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before
    assert [p.name for p in run_dir.parent.iterdir()] == ["slurm-4322"]
    # asked for more epochs, the same requeued job trains them in its folder
    more, _ = run_cli([*args, "--trainer.max_epochs", "2"])
    assert more.resolve() == run_dir.resolve()
