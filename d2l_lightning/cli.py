"""The command line: `python -m d2l_lightning {fit,validate,test,predict} --config FILE ...`.

One `LightningCLI` subclass. On top of Lightning it gives every command its own run directory
`<trainer.default_root_dir>/<run_name>/<run_version>/` holding `config.yaml`, `metrics.csv`,
`checkpoints/` (`last.ckpt` and the best by the model's monitor), `wandb/` (an offline W&B run
unless W&B is turned online) and `curves.png`; a book-style line per epoch; and a clear one-paragraph
error, without traceback, for bad input.
"""

import contextlib
import io
import netrc
import os
import re
import sys
import warnings
from datetime import datetime
from pathlib import Path

import torch
import yaml
from jsonargparse import Namespace
from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback

import d2l_lightning.datamodules  # noqa: F401  (registers the short class names)
import d2l_lightning.models  # noqa: F401
from d2l_lightning.callbacks import (
    BookEpochLine,
    FiniteLossGuard,
    PredictionWriter,
    SaveOnSignal,
    ThrottledProgressBar,
    plot_curves,
)
from d2l_lightning.core import D2LDataModule, D2LModule
from d2l_lightning.errors import CheckpointError, D2LError
from d2l_lightning.plugins import SyncBatchNorms

PROJECT = "d2l-lightning"
# config.yaml is written into the run directory before the CSV logger starts: expected, not a problem.
warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
warnings.filterwarnings("ignore", message=r".*args parameter is intended to run from within Python.*")
# epoch metrics are reduced over ranks by the module itself (D2LModule._log_epoch)
warnings.filterwarnings("ignore", message=r".*It is recommended to use .self.log.*sync_dist=True.*")
# test/predict from a checkpoint need no checkpointing callbacks
warnings.filterwarnings("ignore", message=r".*callbacks used to create the checkpoint need to be provided.*")
# a mid-epoch checkpoint resumes exactly: the data module's training loader skips the epoch's
# trained batches (D2LDataLoader), which Lightning's check for a `state_dict` loader misses
warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")
_PRESET_DIRS = {"trainer", "logger", "debug"}
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


def _global_rank() -> int:
    # LOCAL_RANK last: Lightning's own DDP launcher sets it (and not RANK) in the processes it starts
    for var in ("RANK", "SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def _user_error_in_chain(e: BaseException | None) -> D2LError | None:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, D2LError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config as `config.yaml` in the run directory (Lightning does that) and
    also hands it to W&B, so runs compare by any hyperparameter in the dashboard."""

    def save_config(self, trainer, pl_module, stage) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                logger.log_hyperparams({"config": config})


class D2LCLI(LightningCLI):
    def __init__(self, args=None, run: bool = True, **kwargs):
        self.run_dir: Path | None = None
        super().__init__(
            D2LModule, D2LDataModule, subclass_mode_model=True, subclass_mode_data=True,
            save_config_callback=RunConfigSaver, save_config_kwargs={"overwrite": True},
            seed_everything_default=0, auto_configure_optimizers=False,
            trainer_defaults={"default_root_dir": "logs", "log_every_n_steps": 10},
            parser_kwargs={"description": "d2l-lightning: the book's experiments as Lightning runs."},
            args=args, run=run, **kwargs,
        )

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--run_name", type=str | None, default=None,
                            help="Folder name of this experiment under trainer.default_root_dir "
                                 "(default: the stem of the first chapter config, e.g. 3.6_softmax_scratch).")
        parser.add_argument("--run_version", type=str | None, default=None,
                            help="Sub-folder of this run (default: a timestamp; under SLURM the job id).")

    # --- run directory and loggers -----------------------------------------------------------------
    def _section_config(self) -> Path | None:
        configs = [Path(str(p)) for p in (self._get(self.config, "config") or [])]
        chapter = [p for p in configs if p.parent.name not in _PRESET_DIRS]
        return (chapter or configs or [None])[0]

    def _run_name(self) -> str:
        name = self._get(self.config, "run_name")
        if name:
            return name
        cfg = self._section_config()
        if cfg is not None and cfg.stem != "config":
            return cfg.stem
        model = self._get(self.config, "model")
        return str(model.class_path).rsplit(".", 1)[-1] if model is not None else "run"

    def _make_run_dir(self, name: str) -> Path:
        # DDP ranks started as subprocesses inherit D2L_RUN_DIR from rank 0, so all agree.
        inherited = os.environ.get("D2L_RUN_DIR")
        if inherited and _global_rank() > 0:
            return Path(inherited)
        root = Path(self._get(self.config, "trainer").default_root_dir or "logs")
        version = self._get(self.config, "run_version")
        if not version and os.environ.get("SLURM_JOB_ID"):
            version = f"slurm-{os.environ['SLURM_JOB_ID']}"  # same folder when a job is requeued
        fixed = bool(version)
        version = version or datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = root / name / version
        if _global_rank() == 0:
            for i in range(1, 1000):
                try:
                    run_dir.mkdir(parents=True, exist_ok=fixed)
                    break
                except FileExistsError:  # two runs in the same second never share a folder
                    run_dir = root / name / f"{version}-{i}"
        os.environ["D2L_RUN_DIR"] = str(run_dir)
        return run_dir

    def _configure_loggers(self, cfg, run_dir: Path, name: str) -> None:
        loggers = cfg.trainer.logger
        if loggers is None or loggers is True:
            loggers = [Namespace(class_path=_LOGGERS + "CSVLogger", init_args=Namespace()),
                       Namespace(class_path=_LOGGERS + "WandbLogger", init_args=Namespace())]
        elif loggers is False:
            loggers = []
        elif not isinstance(loggers, list):
            loggers = [loggers]
        kinds = [str(lg.class_path).rsplit(".", 1)[-1] for lg in loggers]
        if loggers and "CSVLogger" not in kinds:  # metrics.csv always
            loggers.insert(0, Namespace(class_path=_LOGGERS + "CSVLogger", init_args=Namespace()))
            kinds.insert(0, "CSVLogger")
        section = self._section_config()
        group = section.parent.name if section is not None and section.parent.name.startswith("ch") \
            else "other"
        model_cls = str(cfg.model.class_path).rsplit(".", 1)[-1]
        data_cls = str(cfg.data.class_path).rsplit(".", 1)[-1] if cfg.get("data") else "none"
        for lg, kind in zip(loggers, kinds):
            args = lg.init_args if lg.get("init_args") is not None else Namespace()
            lg.init_args = args
            if kind in ("CSVLogger", "TensorBoardLogger"):
                # the run directory itself is the log dir: run_dir/metrics.csv, run_dir/events...
                args.save_dir, args.name, args.version = str(run_dir), "", ""
            elif kind == "WandbLogger":
                # absolute: W&B resolves a relative dir against the working directory it saw first
                # in this process, not the current one (in-process runs from another folder)
                args.save_dir = str(run_dir.resolve())
                args.project = args.get("project") or PROJECT
                args.name = name
                args.group = args.get("group") or group
                args.tags = [group, model_cls, data_cls, self.subcommand or "script"]
                args.offline = False
                dict_kwargs = lg.get("dict_kwargs") or {}
                dict_kwargs["mode"] = wandb_mode()
                lg.dict_kwargs = dict_kwargs
        cfg.trainer.logger = loggers

    def _parse_ckpt_path(self) -> None:
        # Lightning would overwrite the config's model with the hyperparameters saved in the
        # checkpoint; ours leave out the optimizer (a callable), which would silently fall back to
        # the default. The run's config.yaml, passed with --config, is the complete description.
        return

    def instantiate_classes(self) -> None:
        # jsonargparse wraps errors raised in a class's __init__ (a ConfigError for batch_size 0,
        # say) into a long union-type message; show the user's error itself.
        try:
            super().instantiate_classes()
        except Exception as e:
            user_error = _user_error_in_chain(e)
            if user_error is None:
                raise
            raise user_error from None
        for logger in self.trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                # Lightning always passes anonymous=None, which W&B now warns about on every run
                logger._wandb_init.pop("anonymous", None)

    # --- checkpoints given with --ckpt_path ----------------------------------------------------------
    def _resolve_ckpt(self, cfg, name: str, root: Path) -> None:
        """`last` means the newest checkpoints/last.ckpt of this experiment's earlier runs (each
        command has a run directory of its own); a path must be a readable checkpoint."""
        ckpt = cfg.get("ckpt_path")
        if not ckpt or ckpt in ("best", "hpc", "registry"):
            return
        if ckpt == "last":
            found = sorted((root / name).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
            found += sorted((root / name).glob("*/*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
            if not found:
                raise CheckpointError(f"--ckpt_path last: no earlier run of {name!r} under {root / name} has "
                                      "checkpoints/last.ckpt. Give the checkpoint's path instead.")
            cfg.ckpt_path = ckpt = str(max(found, key=lambda p: p.stat().st_mtime))
            print(f"resuming from {ckpt}", flush=True)
        path = Path(ckpt)
        if not path.is_file():
            raise CheckpointError(f"--ckpt_path {ckpt}: no such file. Checkpoints are in "
                                  "<run directory>/checkpoints/ (last.ckpt, best-*.ckpt).")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated, not a torch file, or holding arbitrary objects
            raise CheckpointError(f"--ckpt_path {ckpt} is not a readable checkpoint ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:200]}). It may be truncated or not written by "
                                  "d2l-lightning; nothing in it was run.") from None
        if not isinstance(state, dict) or "state_dict" not in state:
            raise CheckpointError(f"--ckpt_path {ckpt} holds no model weights (no state_dict): it is not a "
                                  "Lightning checkpoint.")
        if "weights_only" in cfg and cfg.weights_only is None:
            cfg.weights_only = True  # Lightning loads it as checked here: tensors and plain values only

    def before_instantiate_classes(self) -> None:
        cfg = self.config.get(str(self.subcommand), self.config)  # run=False has no subcommand
        name = self._run_name()
        root = Path(self._get(self.config, "trainer").default_root_dir or "logs")
        self._resolve_ckpt(cfg, name, root)
        self.run_dir = self._make_run_dir(name)
        cfg.run_name = name  # saved in config.yaml, so `test --config <run>/config.yaml` keeps it
        cfg.run_version = None  # ... but gets a run directory of its own
        self._configure_loggers(cfg, self.run_dir, name)

    def instantiate_trainer(self, **kwargs):
        # Only what the command uses: each callback costs a few us per hook call, every step.
        # (run=False, with no subcommand, is a script that calls trainer.fit itself: K-fold, benchmarks.)
        fitting = self.subcommand in (None, "fit")
        callbacks = [BookEpochLine()]
        if self.subcommand == "predict":
            callbacks.append(PredictionWriter(self.run_dir))
        if fitting:
            callbacks += [FiniteLossGuard(), SaveOnSignal(self.run_dir)]
            ckpt_dir = self.run_dir / "checkpoints"
            # Two callbacks: Lightning 2.6 refreshes `save_last` only in steps where a top-k
            # checkpoint was saved, so last.ckpt would stay at the best epoch. The first keeps the
            # latest state (overwritten each epoch), the second the best by the model's monitor.
            callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                                             enable_version_counter=False))
            callbacks.append(ModelCheckpoint(
                dirpath=ckpt_dir, monitor=self.model.monitor, mode=self.model.monitor_mode, save_top_k=1,
                filename="best-{epoch:03d}", auto_insert_metric_name=False))
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        extra = list(trainer_cfg.get("callbacks") or []) + callbacks
        if trainer_cfg.get("enable_progress_bar") is not False and \
                not any(isinstance(cb, ProgressBar) for cb in extra):
            extra.append(ThrottledProgressBar())  # Lightning's default bar, redrawn less often
        if trainer_cfg.get("sync_batchnorm"):  # ours: Lightning's plugin, plus our scratch BatchNorm
            plugins = trainer_cfg.get("plugins") or []
            kwargs["plugins"] = [*(plugins if isinstance(plugins, list) else [plugins]), SyncBatchNorms()]
        return super().instantiate_trainer(default_root_dir=str(self.run_dir), callbacks=extra, **kwargs)

    # --- after every command: curves and where everything is -----------------------------------
    def finish(self) -> None:
        """Closes the loggers, draws curves.png and prints the run directory (rank 0)."""
        if not self.trainer.is_global_zero or self.run_dir is None:
            return
        for logger in self.trainer.loggers:
            logger.finalize("success")
            if type(logger).__name__ == "WandbLogger" and logger._experiment is not None:
                logger.experiment.finish()  # else the next run in this process would reuse it
        sources = []
        ckpt = self._get(self.config, "ckpt_path")
        if ckpt and self.subcommand != "fit":  # draw the curves of the run that trained the model
            sources.append(Path(ckpt).resolve().parent.parent / "metrics.csv")
        sources.append(self.run_dir / "metrics.csv")
        sources = [p for p in sources if p.is_file()]
        if sources:
            plot_curves(sources, self.run_dir / "curves.png", title=self.run_dir.parent.name)
        print(f"run directory: {self.run_dir}", flush=True)

    def after_fit(self) -> None:
        self.finish()

    def after_validate(self) -> None:
        self.finish()

    def after_test(self) -> None:
        self.finish()

    def after_predict(self) -> None:
        self.finish()


def _close_wandb_run() -> None:
    """Lightning opens the W&B run before the setup hooks; an input error found there (a prefix the
    vocabulary lacks, say) would leave it open for the next command in the same process to reuse."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.run.finish(exit_code=1)


def main(args: list[str] | None = None) -> None:
    """Entry point; `args` as on the command line (tests call `main([...])` in-process)."""
    try:
        D2LCLI(args=args)
    except D2LError as e:
        _close_wandb_run()
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def run(args: list[str]) -> tuple[Path | None, str]:
    """Runs one command in this process (as `main`), capturing what it prints; returns the run
    directory it printed and the text. For scripts and tests that drive several runs."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(args)
    text = out.getvalue()
    found = re.findall(r"run directory: (.+)", text)
    return (Path(found[-1].strip()) if found else None), text
