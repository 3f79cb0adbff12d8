"""The loggers of a run: `metrics.csv` always, W&B (offline unless the user opted in) by default,
TensorBoard on request; all of them write into the run directory, and a resumed fit continues its
run's CSV file and W&B run."""

import netrc
import os
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import yaml
from jsonargparse import Namespace
from pytorch_lightning.cli import SaveConfigCallback
from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from d2l_lightning import compat
from d2l_lightning.errors import ConfigError

PROJECT = "d2l-lightning"
_LOGGERS = "pytorch_lightning.loggers."


def _wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _reachable(url: str, timeout: float) -> str | None:
    """None if a TCP connection to the URL's host opens within `timeout` seconds, else the reason.
    (In a thread, since name resolution itself has no timeout.)"""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[str | None] = ["no answer"]

    def connect():
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            result[0] = None
        except OSError as e:
            result[0] = e.strerror or type(e).__name__

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    return f"no answer within {timeout:g} s" if probe.is_alive() else result[0]


def wandb_mode(timeout: float = 3.0, announce: bool = True) -> str:
    """Offline unless the user opted in (`WANDB_MODE=online`, or a W&B login: an API key or
    ~/.netrc). Online without a key is an error that says how to log in; online with a key but no
    reachable server falls back to offline after at most `timeout` seconds, with one line saying
    so (the run can be uploaded later with `wandb sync`)."""
    mode = os.environ.get("WANDB_MODE")
    logged_in = _wandb_logged_in()
    if mode and mode != "online":
        return mode
    if mode == "online" and not logged_in:
        raise ConfigError("WANDB_MODE=online but no W&B API key was found: run `wandb login` (or set "
                          "WANDB_API_KEY), or unset WANDB_MODE to log offline, which needs no account.")
    if not logged_in:
        return "offline"
    url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    problem = _reachable(url, timeout)
    if problem is None:
        return "online"
    if announce:
        print(f"W&B: cannot reach {url} ({problem}); logging offline in the run folder's wandb/ "
              "instead; upload it later with `wandb sync <run folder>/wandb/offline-run-*`.", flush=True)
    return "offline"


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

    # Lightning writes a stage's epoch metrics in a call of their own (validation's, then training's,
    # at the same step): rows of the same step are merged here, so metrics.csv has one row per epoch
    # with train and val side by side (and per-step rows between them).
    _pending: tuple[int | None, dict] | None = None

    def log_metrics(self, metrics, step=None) -> None:
        pending = self._pending
        if pending is not None and pending[0] == step and not (set(metrics) - {"epoch"}) & set(pending[1]):
            pending[1].update(metrics)
            return
        self._flush_pending()
        self._pending = (step, dict(metrics))

    def _flush_pending(self) -> None:
        if self._pending is not None:
            step, metrics = self._pending
            self._pending = None
            super().log_metrics(metrics, step)

    def save(self) -> None:
        super().save()  # (the pending row waits for a row of another step, or flush/finalize)

    def flush(self) -> None:
        """Writes every row logged so far (the pending one too) to metrics.csv."""
        self._flush_pending()
        super().save()

    def finalize(self, status: str) -> None:
        self._flush_pending()
        super().finalize(status)

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


def flat(config: dict, prefix: str = "") -> dict:
    """Nested dicts as one level with dotted keys (`model.init_args.optimizer.init_args.lr`), so
    every hyperparameter is a column to filter and group by in W&B; keys starting with `_`
    (Lightning's `_instantiator`, `_class_path`) are left out."""
    out = {}
    for key, value in config.items():
        if str(key).startswith("_"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


#: summary of a metric in W&B: the best value over the run, not the last one
SUMMARY = {"loss": "min", "acc": "max", "ppl": "min", "log_rmse": "min", "bleu": "max"}


class RunWandbLogger(WandbLogger):
    """Lightning's W&B logger with the run's config flat (filterable columns, no internal keys), the
    best value of every loss/accuracy/perplexity in the run summary, and `log_image`/`log_table`
    used by the CLI for curves.png and predictions.

    Args:
        group, tags, job_type, notes: passed to `wandb.init` (named here so configs can set them).
        **kwargs: Lightning's `WandbLogger` arguments (`project`, `name`, `log_model`, ...).
    """

    def __init__(self, *args, group: str | None = None, tags: list[str] | None = None,
                 job_type: str | None = None, notes: str | None = None, **kwargs):
        super().__init__(*args, group=group, tags=tags, job_type=job_type, notes=notes, **kwargs)

    def log_hyperparams(self, params) -> None:
        params = dict(params) if isinstance(params, dict) else dict(vars(params))
        super().log_hyperparams(flat(params))

    @property
    def experiment(self):
        first = not compat.wandb_run_started(self)
        run = super().experiment
        if first and hasattr(run, "define_metric"):
            for stage in ("train", "val", "test"):
                for name, goal in SUMMARY.items():
                    run.define_metric(f"{stage}/{name}", step_metric="trainer/global_step", summary=goal)
        return run


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config as `config.yaml` in the run directory (Lightning does that) and
    also hands it to W&B, so runs compare by any hyperparameter in the dashboard."""

    def save_config(self, trainer, pl_module, stage) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_hyperparams(config)


def group_and_tags(section: Path | None, cfg: Namespace, command: str | None) -> tuple[str, list[str]]:
    """W&B group (the chapter: `ch03`) and tags (chapter, model, data, command) of a run."""
    group = section.parent.name if section is not None and section.parent.name.startswith("ch") else "other"
    model = str(cfg.model.class_path).rsplit(".", 1)[-1]
    data = str(cfg.data.class_path).rsplit(".", 1)[-1] if cfg.get("data") else "none"
    return group, [group, model, data, command or "script"]


def configure_loggers(cfg: Namespace, run_dir: Path, name: str, group: str, tags: list[str],
                      wandb_id: str | None = None, rank: int = 0) -> None:
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
        if kind == "WandbLogger":
            lg.class_path = f"{__name__}.RunWandbLogger"
            kind = "RunWandbLogger"
        if kind in ("CSVLogger", "RunCSVLogger", "TensorBoardLogger"):
            # the run directory itself is the log dir: run_dir/metrics.csv, run_dir/events...
            args.save_dir, args.name, args.version = str(run_dir), "", ""
            if kind == "CSVLogger":
                lg.class_path = f"{__name__}.RunCSVLogger"
        elif kind == "RunWandbLogger":
            # absolute: W&B resolves a relative dir against the working directory it saw first
            # in this process, not the current one (in-process runs from another folder)
            args.save_dir = str(run_dir.resolve())
            args.project = args.get("project") or PROJECT
            args.name = args.get("name") or name
            args.group = args.get("group") or group
            args.tags = args.get("tags") or tags
            args.offline = False
            dict_kwargs = lg.get("dict_kwargs") or {}
            dict_kwargs["mode"] = wandb_mode(announce=rank == 0)
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
        if isinstance(logger, WandbLogger):
            compat.wandb_drop_anonymous(logger)


def log_image(trainer, key: str, path: Path) -> None:
    """An image file (curves.png) into the W&B run, if there is one."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and path.is_file():
            logger.log_image(key=key, images=[str(path)])


def offline_wandb_dirs(trainer) -> list[str]:
    """The folders of the offline W&B runs this trainer logs to (what `wandb sync` uploads)."""
    dirs = []
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and compat.wandb_run_started(logger):
            run = logger.experiment
            if getattr(run, "offline", False) or getattr(run.settings, "mode", None) == "offline":
                dirs.append(str(Path(run.dir).parent))  # <run>/wandb/offline-run-<time>-<id>
    return dirs


def finalize(trainer) -> None:
    """Flushes every logger and ends the W&B run (else the next run in this process reuses it); an
    offline W&B run (the default on compute nodes) gets one line with its `wandb sync` command."""
    offline = offline_wandb_dirs(trainer)
    for logger in trainer.loggers:
        logger.finalize("success")
        if isinstance(logger, WandbLogger) and compat.wandb_run_started(logger):
            logger.experiment.finish()
    for run in offline:
        print(sync_hint(run), flush=True)


def sync_hint(offline_run: str) -> str:
    return f"W&B: this run was logged offline; upload it with: wandb sync {offline_run}"


def close_wandb_run() -> None:
    """Lightning opens the W&B run before the setup hooks; an input error found there (a prefix the
    vocabulary lacks, say) would leave it open for the next command in the same process to reuse."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.run.finish(exit_code=1)
