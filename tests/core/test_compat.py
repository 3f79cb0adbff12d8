"""Every private Lightning name `d2l_lightning/compat.py` relies on, checked against the installed
Lightning: an upgrade that renames or changes one fails here, with the name in the message."""

import inspect

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch import nn

from d2l_lightning import compat


class Tiny(compat.FastHookNames, pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 1)
        self.fx_names = set()

    def training_step(self, batch, batch_idx):
        self.fx_names.add(self._current_fx_name)
        return self.net(batch[0]).pow(2).mean()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(8, 2)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(**kwargs):
    return pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, **kwargs)


def test_lightning_still_sets_current_fx_name_on_the_module():
    model = Tiny()
    assert "_current_fx_name" in vars(model), "LightningModule no longer has _current_fx_name"
    _trainer(max_steps=1).fit(model)
    assert model.fx_names == {"training_step"}, "Lightning no longer names the hook in _current_fx_name"
    model.weight_like = nn.Parameter(torch.zeros(1))  # every other attribute still goes through nn.Module
    assert "weight_like" in dict(model.named_parameters())


def test_request_stop_after_batch_stops_with_lightnings_sigterm_exception():
    class StopAtSecond(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            # (a batch counts as completed once its hooks have run)
            assert compat.batches_done_in_epoch(trainer) == batch_idx, \
                "fit_loop.epoch_loop.batch_progress.current.completed no longer counts finished batches"
            if batch_idx == 1:
                compat.request_stop_after_batch(trainer)

    trainer = _trainer(max_epochs=1, callbacks=[StopAtSecond()])
    with pytest.raises(SIGTERMException):
        trainer.fit(Tiny())
    assert trainer.global_step == 2, "_signal_connector.received_sigterm no longer stops after the batch"
    assert compat.batches_done_in_epoch(trainer) == 2  # what a checkpoint saved on the signal records


def test_lightnings_cli_still_has_the_ckpt_hparams_step_we_skip():
    assert callable(getattr(LightningCLI, "_parse_ckpt_path", None)), \
        "LightningCLI._parse_ckpt_path is gone: check how --ckpt_path now treats the config's model"
    assert "self._parse_ckpt_path()" in inspect.getsource(LightningCLI), \
        "LightningCLI no longer calls _parse_ckpt_path: the override in compat.KeepConfigModel does nothing"


def test_csv_writer_hooks_still_exist(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,train/loss\n0,9,1.5\n1,19,1.0\n")
    (tmp_path / "config.yaml").write_text("x: 1\n")
    writer = compat.continuing_writer_class(ExperimentWriter, lambda row: row["epoch"] == "0")(str(tmp_path))
    assert writer.metrics_keys == ["epoch", "step", "train/loss"], "ExperimentWriter.metrics_keys changed"
    writer.log_metrics({"train/loss": 0.5, "epoch": 1}, step=19)
    writer.save()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows == ["epoch,step,train/loss", "0,9,1.5", "1,19,0.5"], \
        "ExperimentWriter._check_log_dir_exists / save() changed: a resumed metrics.csv is not continued"
    logger = CSVLogger(str(tmp_path), name="", version="")
    assert compat.csv_experiment(logger) is None, "CSVLogger no longer creates its writer lazily in _experiment"
    compat.set_csv_experiment(logger, writer)
    assert logger.experiment is writer


def test_wandb_logger_internals(tmp_path, monkeypatch):
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    assert "anonymous" in logger._wandb_init, "WandbLogger no longer passes anonymous: drop the workaround"
    compat.wandb_drop_anonymous(logger)
    assert "anonymous" not in logger._wandb_init
    assert compat.wandb_run_started(logger) is False, "WandbLogger._experiment no longer marks a started run"


def test_rich_progress_bar_still_builds_its_epoch_label_in_a_private_method():
    from types import SimpleNamespace

    from pytorch_lightning.callbacks import RichProgressBar

    from d2l_lightning.callbacks import ThrottledProgressBar

    assert callable(getattr(RichProgressBar, "_get_train_description", None)), \
        "RichProgressBar._get_train_description is gone: the bar's epochs are counted from 0 again"
    bar = ThrottledProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=5)
    assert bar._get_train_description(0).strip() == "Epoch 1/5"
    assert bar._get_train_description(4).strip() == "Epoch 5/5"


def test_lightnings_ddp_launcher_still_keeps_its_children_in_procs():
    import subprocess

    from lightning_fabric.strategies.launchers.subprocess_script import _ChildProcessObserver

    trainer = _trainer(devices=2, strategy="ddp")
    launcher = trainer.strategy.launcher
    assert isinstance(getattr(launcher, "procs", None), list), \
        "_SubprocessScriptLauncher.procs is gone: LostRankWatch cannot name a dead child rank at once"
    assert compat.launcher_children(trainer) == []  # (filled when it starts the other ranks)
    launcher.procs.append(subprocess.Popen(["true"]))
    assert [p.wait() for p in compat.launcher_children(trainer)] == [0]
    period = inspect.signature(_ChildProcessObserver).parameters["sleep_period"].default
    assert period >= 2, "Lightning's child-process observer now polls faster than LostRankWatch's 1 s"
    assert compat.launcher_children(_trainer(max_steps=1)) == []
