"""The command line: `python -m d2l_lightning {fit,validate,test,predict} --config FILE ...`.

One `LightningCLI` subclass. On top of Lightning it gives every command its run directory
(`runs.py`) with its loggers (`loggers.py`), the callbacks the command uses (`callbacks.py`),
`curves.png` (`plots.py`), and a clear one-paragraph error, without traceback, for bad input.
"""

import contextlib
import io
import re
import sys
import warnings
from pathlib import Path

from pytorch_lightning.callbacks import ModelCheckpoint, ModelSummary, ProgressBar, RichModelSummary
from pytorch_lightning.cli import LightningCLI

import d2l_lightning.datamodules  # noqa: F401  (registers the short class names)
import d2l_lightning.models  # noqa: F401
from d2l_lightning import loggers, runs
from d2l_lightning.callbacks import (BestCheckpoint, BookEpochLine, FiniteLossGuard, PredictionWriter,
                                     SaveOnSignal, ThrottledProgressBar)
from d2l_lightning.compat import KeepConfigModel
from d2l_lightning.core import D2LDataModule, D2LModule
from d2l_lightning.errors import D2LError
from d2l_lightning.plots import plot_curves
from d2l_lightning.plugins import SyncBatchNorms

# Warnings that say nothing to a user of this CLI, each for a reason; installed only while a
# command runs (`main`), never at import.
KNOWN_WARNINGS = (
    # Lightning 2.6 calls a torch pytree API that torch 2.14 deprecates; nothing a user can change
    r".*LeafSpec.*",
    # epoch metrics are reduced over ranks by the module itself (D2LModule._log_epoch)
    r".*It is recommended to use .self.log.*sync_dist=True.*",
    # test/validate/predict restore a fit checkpoint, which holds the checkpoint callbacks' state
    r".*callbacks used to create the checkpoint need to be provided.*",
    # a mid-epoch checkpoint resumes exactly: the data module's training loader skips the epoch's
    # trained batches (D2LDataLoader), which Lightning's check for a `state_dict` loader misses
    r".*resuming from a checkpoint that ended before the epoch ended.*",
)


def _user_error_in_chain(e: BaseException | None) -> D2LError | None:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, D2LError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


class D2LCLI(KeepConfigModel, LightningCLI):
    def __init__(self, args=None, run: bool = True, **kwargs):
        self.run_dir: Path | None = None
        self.resume_at: tuple[int, int] | None = None  # (epoch, step) of the checkpoint a fit continues
        super().__init__(
            D2LModule, D2LDataModule, subclass_mode_model=True, subclass_mode_data=True,
            save_config_callback=loggers.RunConfigSaver, save_config_kwargs={"overwrite": True},
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

    def _command_config(self):
        """The parsed config of this command (scripts with run=False have no subcommand)."""
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        cfg = self._command_config()
        name = runs.run_name(cfg.get("run_name"), cfg.get("config"), cfg.model.class_path if cfg.get("model") else None)
        root = Path(cfg.trainer.default_root_dir or "logs")
        ckpt = cfg.get("ckpt_path")
        self.run_dir = None
        if ckpt and ckpt not in ("best", "hpc", "registry"):
            if ckpt == "last":
                cfg.ckpt_path = ckpt = str(runs.find_last_checkpoint(root, name))
                print(f"resuming from {ckpt}", flush=True)
            state = runs.check_checkpoint(ckpt)
            if "weights_only" in cfg and cfg.weights_only is None:
                cfg.weights_only = True  # Lightning loads it as checked here: tensors and plain values only
            home = runs.run_dir_of_checkpoint(ckpt)
            if self.subcommand == "fit" and home is not None and not cfg.get("run_version"):
                self.run_dir = runs.use_run_dir(home)  # resuming is the same run, in its folder
                self.resume_at = (int(state.get("epoch", 0)), int(state.get("global_step", 0)))
                # its own checkpoints are expected there (scoped to this command by `main`)
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        if self.run_dir is None:
            self.run_dir = runs.make_run_dir(root, name, cfg.get("run_version"))
        cfg.run_name = name  # saved in config.yaml, so `test --config <run>/config.yaml` keeps it
        cfg.run_version = None  # ... but gets a run directory of its own
        section = runs.section_config(cfg.get("config"))
        group = section.parent.name if section is not None and section.parent.name.startswith("ch") else "other"
        tags = [group, str(cfg.model.class_path).rsplit(".", 1)[-1],
                str(cfg.data.class_path).rsplit(".", 1)[-1] if cfg.get("data") else "none", self.subcommand or "script"]
        loggers.configure_loggers(cfg, self.run_dir, name, group, tags,
                                  loggers.wandb_run_id(self.run_dir) if self.resume_at else None)

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
        loggers.after_instantiation(self.trainer, self.resume_at)

    def instantiate_trainer(self, **kwargs):
        # Only what the command uses: each callback costs a few us per hook call, every step.
        # (run=False, with no subcommand, is a script that calls trainer.fit itself: K-fold, benchmarks.)
        callbacks = [BookEpochLine()]
        if self.subcommand == "predict":
            callbacks.append(PredictionWriter(self.run_dir))
        if self.subcommand not in (None, "fit"):
            kwargs["enable_checkpointing"] = False  # evaluation writes no checkpoint
        else:
            # absolute, as the path in a checkpoint must match when a fit resumes in the same folder
            ckpt_dir = self.run_dir.resolve() / "checkpoints"
            # Two checkpoint callbacks: Lightning 2.6 refreshes `save_last` only in steps where a
            # top-k checkpoint was saved, so last.ckpt would stay at the best epoch. The first keeps
            # the latest state (overwritten each epoch), the second the best by the model's monitor.
            callbacks += [FiniteLossGuard(), SaveOnSignal(self.run_dir),
                          ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                                          enable_version_counter=False),
                          BestCheckpoint(ckpt_dir, self.model.monitor, self.model.monitor_mode)]
        trainer_cfg = self.config_init[self.subcommand]["trainer"] if self.subcommand else self.config_init["trainer"]
        extra = list(trainer_cfg.get("callbacks") or []) + callbacks
        bar = trainer_cfg.get("enable_progress_bar") is not False and \
            not any(isinstance(cb, ProgressBar) for cb in extra)
        if bar:
            extra.append(ThrottledProgressBar())  # Lightning's default bar, redrawn less often
        if trainer_cfg.get("enable_model_summary") is not False and \
                not any(isinstance(cb, ModelSummary) for cb in extra):
            # the depth at which the model's own layers show, each with its input/output shapes
            extra.append((RichModelSummary if bar else ModelSummary)(max_depth=self.model.summary_depth))
        if trainer_cfg.get("sync_batchnorm"):  # ours: Lightning's plugin, plus our scratch BatchNorm
            plugins = trainer_cfg.get("plugins") or []
            kwargs["plugins"] = [*(plugins if isinstance(plugins, list) else [plugins]), SyncBatchNorms()]
        return super().instantiate_trainer(default_root_dir=str(self.run_dir), callbacks=extra, **kwargs)

    def finish(self) -> None:
        """After every command: closes the loggers, draws curves.png and prints the run directory."""
        if not self.trainer.is_global_zero or self.run_dir is None:
            return
        loggers.finalize(self.trainer)
        sources = []
        ckpt = self._command_config().get("ckpt_path")
        home = runs.run_dir_of_checkpoint(ckpt) if ckpt and self.subcommand != "fit" else None
        if home is not None:  # draw the curves of the run that trained the model
            sources.append(home / "metrics.csv")
        sources.append(self.run_dir / "metrics.csv")
        sources = [p for p in sources if p.is_file()]
        if sources:
            plot_curves(sources, self.run_dir / "curves.png", title=self.run_dir.parent.name)
        print(f"run directory: {self.run_dir}", flush=True)

    after_fit = after_validate = after_test = after_predict = finish


@contextlib.contextmanager
def known_warnings_ignored():
    """Scope of `KNOWN_WARNINGS`: one command (a script driving the CLI with run=False uses it too)."""
    with warnings.catch_warnings():
        for message in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


def main(args: list[str] | None = None) -> None:
    """Entry point; `args` as on the command line (tests call `main([...])` in-process)."""
    try:
        with known_warnings_ignored():
            D2LCLI(args=args)
    except D2LError as e:
        loggers.close_wandb_run()
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def run(args: list[str]) -> tuple[Path | None, str]:
    """Runs one command in this process (as `main`), capturing what it prints; returns the run
    directory it printed and the text. For scripts and tests that drive several runs."""
    out = io.StringIO()
    argv, sys.argv = sys.argv, sys.argv[:1]  # `args` is the whole command line of this run
    try:
        with contextlib.redirect_stdout(out):
            main(args)
    finally:
        sys.argv = argv
    text = out.getvalue()
    found = re.findall(r"run directory: (.+)", text)
    return (Path(found[-1].strip()) if found else None), text
