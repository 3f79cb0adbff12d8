"""The loggers of a run: `metrics.csv` always, W&B (offline unless the user opted in) by default,
TensorBoard on request; all of them write into the run directory, and a resumed fit continues its
run's CSV file and W&B run."""

import netrc
import os
import sys
from pathlib import Path

import yaml
from jsonargparse import Namespace
from pytorch_lightning.cli import SaveConfigCallback
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from d2l_lightning import compat

PROJECT = "d2l-lightning"
_LOGGERS = "pytorch_lightning.loggers."


def _wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_mode() -> str:
    """Offline unless the user opted in: `WANDB_MODE` wins, else online only when logged in."""
    return os.environ.get("WANDB_MODE") or ("online" if _wandb_logged_in() else "offline")


def wandb_run_id(run_dir: Path) -> str | None:
    """The id of the W&B run a run folder already holds (its newest), to continue it on resume."""
    runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
    runs = [p for p in runs if p.is_dir()]
    return runs[-1].name.rsplit("-", 1)[-1] if runs else None


class RunCSVLogger(CSVLogger):
    """Lightning's CSV logger writing `<run dir>/metrics.csv`, which a resumed fit continues:
    rows written up to the checkpoint stay, rows written after it (by a run that went on past the
    checkpoint it is resumed from) go. Lightning's own logger deletes the file on start-up, and
    warns about every folder that already holds anything (ours holds config.yaml by then)."""

    def __init__(self, save_dir: str, name: str = "", version: str = "", **kwargs):
        super().__init__(save_dir, name=name, version=version, **kwargs)
        self._resume_at: tuple[int, int] | None = None

    def continue_after(self, epoch: int, step: int) -> None:
        """Keep the rows of epochs up to `epoch` logged at steps up to `step` (a checkpoint's)."""
        self._resume_at = (epoch, step)

    def _keep(self, row: dict) -> bool:
        epoch, step = self._resume_at
        try:
            return int(float(row.get("epoch") or 0)) <= epoch and int(float(row.get("step") or 0)) <= step
        except ValueError:
            return False

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        writer = compat.csv_experiment(self)
        if writer is None:
            os.makedirs(self.root_dir, exist_ok=True)
            keep = self._keep if self._resume_at is not None else None
            writer = compat.continuing_writer_class(ExperimentWriter, keep)(log_dir=self.log_dir)
            compat.set_csv_experiment(self, writer)
        return writer


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config as `config.yaml` in the run directory (Lightning does that) and
    also hands it to W&B, so runs compare by any hyperparameter in the dashboard."""

    def save_config(self, trainer, pl_module, stage) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                logger.log_hyperparams({"config": config})


def group_and_tags(section: Path | None, cfg: Namespace, command: str | None) -> tuple[str, list[str]]:
    """W&B group (the chapter: `ch03`) and tags (chapter, model, data, command) of a run."""
    group = section.parent.name if section is not None and section.parent.name.startswith("ch") else "other"
    model = str(cfg.model.class_path).rsplit(".", 1)[-1]
    data = str(cfg.data.class_path).rsplit(".", 1)[-1] if cfg.get("data") else "none"
    return group, [group, model, data, command or "script"]


def configure_loggers(cfg: Namespace, run_dir: Path, name: str, group: str, tags: list[str],
                      wandb_id: str | None = None) -> None:
    """Rewrites `cfg.trainer.logger` so every logger writes into `run_dir`: a CSV logger always
    (unless loggers are off), W&B with the project's name, group and tags, in the mode the user
    chose; `wandb_id` continues an existing W&B run."""
    loggers = cfg.trainer.logger
    if loggers is None or loggers is True:
        loggers = [Namespace(class_path=_LOGGERS + "CSVLogger", init_args=Namespace()),
                   Namespace(class_path=_LOGGERS + "WandbLogger", init_args=Namespace())]
    elif loggers is False:
        loggers = []
    elif not isinstance(loggers, list):
        loggers = [loggers]
    kinds = [str(lg.class_path).rsplit(".", 1)[-1] for lg in loggers]
    if loggers and not {"CSVLogger", "RunCSVLogger"} & set(kinds):  # metrics.csv always
        loggers.insert(0, Namespace(class_path=_LOGGERS + "CSVLogger", init_args=Namespace()))
        kinds.insert(0, "CSVLogger")
    for lg, kind in zip(loggers, kinds):
        args = lg.init_args if lg.get("init_args") is not None else Namespace()
        lg.init_args = args
        if kind in ("CSVLogger", "RunCSVLogger", "TensorBoardLogger"):
            # the run directory itself is the log dir: run_dir/metrics.csv, run_dir/events...
            args.save_dir, args.name, args.version = str(run_dir), "", ""
            if kind == "CSVLogger":
                lg.class_path = f"{__name__}.RunCSVLogger"
        elif kind == "WandbLogger":
            # absolute: W&B resolves a relative dir against the working directory it saw first
            # in this process, not the current one (in-process runs from another folder)
            args.save_dir = str(run_dir.resolve())
            args.project = args.get("project") or PROJECT
            args.name = name
            args.group = args.get("group") or group
            args.tags = tags
            args.offline = False
            dict_kwargs = lg.get("dict_kwargs") or {}
            dict_kwargs["mode"] = wandb_mode()
            if wandb_id:
                args.id = wandb_id
                dict_kwargs["resume"] = "allow"
            lg.dict_kwargs = dict_kwargs
    cfg.trainer.logger = loggers


def after_instantiation(trainer, resume_at: tuple[int, int] | None) -> None:
    """What can only be set on the logger objects: where a resumed CSV file continues, and no
    'anonymous' argument for W&B."""
    for logger in trainer.loggers:
        if isinstance(logger, RunCSVLogger) and resume_at is not None:
            logger.continue_after(*resume_at)
        if type(logger).__name__ == "WandbLogger":
            compat.wandb_drop_anonymous(logger)


def finalize(trainer) -> None:
    """Flushes every logger and ends the W&B run (else the next run in this process reuses it)."""
    for logger in trainer.loggers:
        logger.finalize("success")
        if type(logger).__name__ == "WandbLogger" and compat.wandb_run_started(logger):
            logger.experiment.finish()


def close_wandb_run() -> None:
    """Lightning opens the W&B run before the setup hooks; an input error found there (a prefix the
    vocabulary lacks, say) would leave it open for the next command in the same process to reuse."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.run.finish(exit_code=1)
