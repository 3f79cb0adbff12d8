"""The Lightning internals this project cannot do without, in one place.

Each is a private name of pytorch-lightning 2.6 (pinned in requirements.lock) used where Lightning
has no public way; `tests/core/test_compat.py` checks every one of them against the installed
Lightning, so an upgrade that renames or removes one fails there, loudly, instead of silently
changing behaviour somewhere else.
"""

from typing import Any

import pytorch_lightning as pl


class FastHookNames:
    """Mixin for a LightningModule. Lightning sets `_current_fx_name` on the module around every hook
    call, ~40 times per training step; `nn.Module.__setattr__` (checks for parameters, buffers,
    submodules) made that ~10% of a softmax-regression step on CPU. It is a plain string, so it
    skips those checks."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


def request_stop_after_batch(trainer: "pl.Trainer") -> None:
    """Makes Lightning stop at the end of the current batch (or epoch) and raise its
    `SIGTERMException`, exactly as after its own SIGTERM handler; there is no public switch for
    the stop-and-save path (`trainer.should_stop` stops without the exception)."""
    trainer._signal_connector.received_sigterm = True


def launcher_children(trainer: "pl.Trainer") -> list:
    """The ranks Lightning's own DDP launcher (`strategy: ddp`, one command per node) started from
    this process, as `subprocess.Popen`s in local-rank order from 1 (its `procs`; [] under any other
    launcher). Its child-process observer SIGKILLs every rank, without saying which one died, within
    5 s of a child's death: the lost-rank watch looks at them first, to name the rank before that."""
    from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = trainer.strategy.launcher
    return list(launcher.procs) if isinstance(launcher, _SubprocessScriptLauncher) else []


def batches_done_in_epoch(trainer: "pl.Trainer") -> int:
    """How many batches of the current training epoch have completed (the fit loop's progress
    counter, which Lightning saves in its own checkpoints but does not expose)."""
    return trainer.fit_loop.epoch_loop.batch_progress.current.completed


def wandb_drop_anonymous(logger: Any) -> None:
    """Lightning's WandbLogger always passes `anonymous=None` to `wandb.init`, which W&B now warns
    about on every run; its init arguments are kept in `_wandb_init` only."""
    logger._wandb_init.pop("anonymous", None)


def wandb_run_started(logger: Any) -> bool:
    """Whether the logger has already created its W&B run (`logger.experiment` would create one)."""
    return logger._experiment is not None


class KeepConfigModel:
    """Mixin for a LightningCLI. With `--ckpt_path`, Lightning replaces the config's model with the
    hyperparameters saved in the checkpoint (`_parse_ckpt_path`); ours leave out the optimizer (a
    callable), which would silently fall back to the default. The run's config.yaml, passed with
    --config, is the complete description, so that step is skipped."""

    def _parse_ckpt_path(self) -> None:
        return


def keep_csv_rows(writer: Any, keep) -> None:
    """Makes a CSV logger's experiment writer continue an existing `metrics.csv` instead of deleting
    it (Lightning's writer removes the file when it starts in a folder that is not empty), keeping
    the rows for which `keep(row)` is true: a resumed run appends to its own metrics. Lightning keeps
    the header of a writer in `metrics_keys` and decides in `_check_log_dir_exists`, at start-up,
    whether to delete; this runs instead of that check."""
    import csv
    import os

    path = writer.metrics_file_path
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), [r for r in reader if keep(r)]
    with open(path, "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=header)
        out.writeheader()
        out.writerows(rows)
    writer.metrics_keys = sorted(header)


def continuing_writer_class(base: type, keep) -> type:
    """A subclass of Lightning's CSV `ExperimentWriter` whose start-up check keeps the existing rows
    that `keep` accepts (None: a new run, whose folder only holds its config.yaml so far: nothing
    to delete and nothing to warn about)."""

    class ContinuingWriter(base):
        def _check_log_dir_exists(self) -> None:
            if keep is not None:
                keep_csv_rows(self, keep)

    return ContinuingWriter


def set_csv_experiment(logger: Any, writer: Any) -> None:
    """Installs the experiment writer of a CSV logger (Lightning creates it lazily in `_experiment`)."""
    logger._experiment = writer


def csv_experiment(logger: Any) -> Any:
    return logger._experiment


def progress_train_description(bar: Any, lightning_description, current_epoch: int) -> str:
    """The rich progress bar's "Epoch i/n" label counted from 1: Lightning builds it (0-based, with
    the last index as n) in its private `_get_train_description(current_epoch)`, which the bar's
    subclass overrides to shift both numbers by one."""
    text = lightning_description(current_epoch + 1)
    max_epochs = bar.trainer.max_epochs
    if max_epochs is not None and max_epochs >= 0:
        text = text.replace(f"/{max_epochs - 1}", f"/{max_epochs}", 1)
    return text
