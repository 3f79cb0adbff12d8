"""The command line: `python -m d2l_lightning {fit,validate,test,predict} --config FILE ...`.

One `LightningCLI` subclass. On top of Lightning it gives every command its run directory
(`runs.py`) with its loggers (`loggers.py`), the callbacks the command uses (`callbacks.py`),
`curves.png` (`plots.py`), and a clear one-paragraph error, without traceback, for bad input.
"""

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from pathlib import Path

import yaml
from pytorch_lightning.cli import LightningCLI

import d2l_lightning.datamodules  # noqa: F401  (registers the short class names)
import d2l_lightning.models  # noqa: F401
from d2l_lightning import loggers, runs
from d2l_lightning.callbacks import command_callbacks
from d2l_lightning.compat import KeepConfigModel
from d2l_lightning.core import D2LDataModule, D2LModule
from d2l_lightning.errors import ConfigError, ConfigFileError, D2LError, explain
from d2l_lightning.plots import plot_run
from d2l_lightning.plugins import with_atomic_checkpoints, with_sync_batchnorms

# Warnings that say nothing to a user of this CLI, each for a reason; installed only while a
# command runs (`main`), never at import.
KNOWN_WARNINGS = (
    # Lightning 2.6 calls a torch pytree API that torch 2.14 deprecates, and jsonargparse APIs that
    # jsonargparse 4.49 deprecates (we pin jsonargparse < 5); nothing a user can change
    r".*LeafSpec.*",
    r"(?s).*(was deprecated in v4\.|only one JsonargparseDeprecationWarning per type).*",
    # epoch metrics are reduced over ranks by the module itself (D2LModule._log_epoch)
    r".*It is recommended to use .self.log.*sync_dist=True.*",
    # test/validate/predict restore a fit checkpoint, which holds the checkpoint callbacks' state
    r".*callbacks used to create the checkpoint need to be provided.*",
    # train metrics are exact epoch means logged at each epoch's end, whatever log_every_n_steps
    r".*smaller than the logging interval.*",
    # a mid-epoch checkpoint resumes exactly: the data module's training loader skips the epoch's
    # trained batches (D2LDataLoader), which Lightning's check for a `state_dict` loader misses
    r".*resuming from a checkpoint that ended before the epoch ended.*",
)


#: what Lightning itself stores in a checkpoint (the rest is the data module's and callbacks' state)
_LIGHTNING_CKPT_KEYS = {"epoch", "global_step", "pytorch-lightning_version", "state_dict", "loops", "callbacks",
                        "optimizer_states", "lr_schedulers", "hparams_name", "hyper_parameters"}


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
        self.data_state: dict = {}  # the data module's part of the checkpoint that test/predict use
        argv = sys.argv
        if args is not None:  # the whole command line (tests, scripts): the process's own argv is set
            sys.argv = argv[:1]  # aside meanwhile, else Lightning warns that both were given
        try:
            super().__init__(
                D2LModule, D2LDataModule, subclass_mode_model=True, subclass_mode_data=True,
                save_config_callback=loggers.RunConfigSaver, save_config_kwargs={"overwrite": True},
                seed_everything_default=0, auto_configure_optimizers=False,
                trainer_defaults={"default_root_dir": "logs", "log_every_n_steps": 10},
                parser_kwargs={"description": "d2l-lightning: the book's experiments as Lightning runs."},
                args=args, run=run, **kwargs)
        finally:
            sys.argv = argv

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--run_name", type=str | None, default=None,
                            help="Folder name of this experiment under trainer.default_root_dir "
                                 "(default: the stem of the first chapter config, e.g. 3.6_softmax_scratch).")
        parser.add_argument("--run_version", type=str | None, default=None,
                            help="Sub-folder of this run (default: a timestamp; under SLURM the job id).")
        # (not --verbose: Lightning's validate/test commands have an argument of that name)
        parser.add_argument("--quiet", type=bool, default=True,
                            help="false: also print Lightning's and W&B's own messages and the model "
                                 "summary table.")

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")  # (None for scripts with run=False)
        check_command(subcommand, self.config[subcommand] if subcommand else self.config)

    def _command_config(self):
        """The parsed config of this command (scripts with run=False have no subcommand)."""
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        cfg = self._command_config()
        name = runs.run_name(cfg.get("run_name"), cfg.get("config"), cfg.get("model.class_path"))
        root = Path(cfg.trainer.default_root_dir or "logs")
        requeued = False
        if self.subcommand == "fit" and cfg.get("ckpt_path") is None:  # a requeued SLURM job continues
            cfg.ckpt_path = runs.requeued_checkpoint(root, name, cfg.get("run_version"))
            requeued = cfg.ckpt_path is not None
        if cfg.get("ckpt_path") not in (None, "hpc"):
            cfg.ckpt_path, home, state = runs.resolve_checkpoint(
                cfg.ckpt_path, root, name, self.subcommand or "fit", cfg.get("model.class_path"),
                debugging=bool(runs.debug_options(cfg.trainer)))
            if "weights_only" in cfg and cfg.weights_only is None:
                cfg.weights_only = True  # Lightning loads it as checked: tensors and plain values only
            if requeued and nothing_to_train(cfg, state):
                # SLURM requeued a job whose training had finished (a node failed afterwards, an
                # admin's requeue): its run is complete, which is success, not a usage error
                trained = f"{runs.trained_epochs(state)} epoch(s) ({state.get('global_step', 0)} steps)"
                raise NothingToDo(f"requeued SLURM job: its run {Path(cfg.ckpt_path).parents[1]} already "
                                  f"trained {trained}, as far as the trainer's limits go; nothing left to do.")
            if self.subcommand in (None, "fit"):
                check_more_to_train(cfg, state)
            else:  # what the data module fitted (a scaler, a vocabulary) comes from the checkpoint
                self.data_state = {k: v for k, v in state.items() if k not in _LIGHTNING_CKPT_KEYS}
            self.resume_at = (int(state.get("epoch", 0)), int(state.get("global_step", 0)))
            if self.subcommand != "fit" or home is None or cfg.get("run_version"):
                self.resume_at = None
            else:  # resuming is the same run, in its folder, where its own checkpoints are expected
                self.run_dir = runs.use_run_dir(home)
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        if self.run_dir is None:
            self.run_dir = runs.make_run_dir(root, name, cfg.get("run_version"))
        if cfg.get("quiet", True):
            quiet(cfg)
        cfg.run_name = name  # saved in config.yaml, so `test --config <run>/config.yaml` keeps it
        cfg.run_version = None  # ... but gets a run directory of its own
        group, tags = loggers.group_and_tags(runs.section_config(cfg.get("config")), cfg, self.subcommand)
        loggers.configure_loggers(cfg, self.run_dir, name, group, tags,
                                  loggers.wandb_run_id(self.run_dir) if self.resume_at else None,
                                  rank=runs.global_rank())

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
        check_trained_weights(self.subcommand, self._command_config())
        data_state, self.data_state = self.data_state.get(type(self.datamodule).__qualname__), {}
        if data_state and hasattr(self.datamodule, "load_state_dict"):
            self.datamodule.load_state_dict(data_state)
        loggers.after_instantiation(self.trainer, self.resume_at)

    def instantiate_trainer(self, **kwargs):
        trainer_cfg = (self.config_init[self.subcommand] if self.subcommand else self.config_init)["trainer"]
        if self.subcommand not in (None, "fit"):
            kwargs["enable_checkpointing"] = False  # evaluation writes no checkpoint
        plugins = trainer_cfg.get("plugins")
        if trainer_cfg.get("sync_batchnorm"):  # ours: Lightning's plugin, plus our scratch BatchNorm
            plugins = with_sync_batchnorms(plugins)
        kwargs["plugins"] = with_atomic_checkpoints(plugins)
        callbacks = command_callbacks(self.subcommand, self.run_dir, self.model, trainer_cfg)
        try:
            return super().instantiate_trainer(default_root_dir=str(self.run_dir), callbacks=callbacks,
                                               **kwargs)
        except (ValueError, TypeError) as e:  # Lightning's checks of accelerator, devices, strategy ...
            raise ConfigError(f"Lightning refused the trainer settings: {str(e).splitlines()[0]} Check the "
                              "--trainer.* options (or the configs/trainer preset) it names.") from None

    def finish(self) -> None:
        """After every command: closes the loggers, draws curves.png and prints the run directory."""
        if not self.trainer.is_global_zero or self.run_dir is None:
            return
        ckpt = self._command_config().get("ckpt_path")
        # test/predict: the curves of the run that trained the model, with this command's results
        trained_by = runs.run_dir_of_checkpoint(ckpt) if ckpt and self.subcommand != "fit" else None
        for logger in self.trainer.loggers:  # metrics.csv complete before it is drawn
            if isinstance(logger, loggers.RunCSVLogger):
                logger.flush()
        curves = plot_run(self.run_dir, trained_by)
        if curves is not None:
            loggers.log_image(self.trainer, "curves", curves)
        loggers.finalize(self.trainer)
        print(f"run directory: {self.run_dir}", flush=True)

    after_fit = after_validate = after_test = after_predict = finish


def check_command(subcommand: str | None, cfg) -> None:
    """Settings that Lightning would take silently (a run that trains nothing, random weights
    evaluated) or answer with a traceback; each is one paragraph instead."""
    seed = cfg.get("seed_everything")
    if not isinstance(seed, bool) and isinstance(seed, int) and not 0 <= seed < 2**32:
        raise ConfigError(f"seed_everything must be in [0, 2**32 - 1] (what NumPy and torch accept), got "
                          f"{seed}. Pick another seed, e.g. --seed_everything 0.")
    ckpt = cfg.get("ckpt_path")
    if ckpt in ("best", "registry") or (ckpt == "hpc" and subcommand not in (None, "fit")):
        raise ConfigError(f"--ckpt_path {ckpt} is not supported here: give the checkpoint's path "
                          "(<run directory>/checkpoints/best-NNN.ckpt or last.ckpt), or `last` for the newest "
                          "last.ckpt of this experiment.")
    if subcommand in (None, "fit"):
        trainer = cfg.trainer
        if trainer.get("max_epochs") == 0 or trainer.get("max_steps") == 0:
            which = "max_epochs" if trainer.get("max_epochs") == 0 else "max_steps"
            raise ConfigError(f"--trainer.{which} 0 trains nothing. Give the number of epochs (or steps) to "
                              "train, e.g. --trainer.max_epochs 5.")
        if trainer.get("limit_train_batches") in (0, 0.0):
            raise ConfigError("--trainer.limit_train_batches 0 trains nothing. Leave it out (all batches) or "
                              "give a positive number of batches or a fraction in (0, 1].")


def check_trained_weights(subcommand: str | None, cfg) -> None:
    """validate/test/predict evaluate trained weights (a checkpoint, or `init_from`), never a randomly
    initialised model. (Checked after the model and data are built, so their own errors come first.)"""
    if subcommand in ("validate", "test", "predict") and not cfg.get("ckpt_path") \
            and not cfg.get("model.init_args.init_from"):
        raise ConfigError(
            f"{subcommand} needs trained weights, else it evaluates a randomly initialised model: pass "
            "--ckpt_path <run directory>/checkpoints/last.ckpt (or best-NNN.ckpt) together with --config "
            f"<run directory>/config.yaml, or --ckpt_path last for the newest run of this experiment.")


def nothing_to_train(cfg, state: dict) -> str | None:
    """"epochs" or "steps" when resuming from a checkpoint with `state` would train nothing (what it
    trained already reaches the trainer's limit), else None."""
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps")
    if max_epochs not in (None, -1) and max_epochs <= runs.trained_epochs(state):
        return "epochs"
    if max_steps not in (None, -1) and max_steps <= int(state.get("global_step", 0)):
        return "steps"
    return None


def check_more_to_train(cfg, state: dict) -> None:
    """Resuming a run only trains if its limits are beyond what the checkpoint has done."""
    trained, steps = runs.trained_epochs(state), int(state.get("global_step", 0))
    limit = nothing_to_train(cfg, state)
    if limit == "epochs":
        raise ConfigError(
            f"--ckpt_path {cfg.ckpt_path}: this run already trained {trained} epoch(s), and "
            f"--trainer.max_epochs is {cfg.trainer.max_epochs}, so resuming would train nothing. Pass "
            f"--trainer.max_epochs > {trained} to train it further, or use test/validate/predict "
            "with this --ckpt_path to evaluate it.")
    if limit == "steps":
        raise ConfigError(f"--ckpt_path {cfg.ckpt_path}: this run already trained {steps} steps, and "
                          f"--trainer.max_steps is {cfg.trainer.max_steps}. Pass --trainer.max_steps "
                          f"> {steps}.")


def check_config_files(args: list[str]) -> None:
    """Every `--config` file is UTF-8 YAML, else one error naming the file, line and column (the
    parser would show a traceback, or a YAML error without the file's name)."""
    paths = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    paths += [b for a, b in zip(args, args[1:]) if a in ("--config", "-c")]
    for value in paths:
        path = Path(value)
        try:
            if not path.is_file():
                continue  # the parser says it is missing (or it is inline YAML)
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigFileError(f"config file {path} is not UTF-8 text (byte {e.start}: {e.reason}). Save it "
                              "as UTF-8.") from None
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigFileError(f"config file {path} is not valid YAML{where}: {problem}. Fix the file "
                              "(indentation and `key: value` pairs are the usual culprits).") from None


_CHATTY_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning")


def quiet(cfg) -> None:
    """A run prints the book-style epoch line, a progress bar and where its folder is; Lightning's
    tips and device lines, W&B's banner and the model summary table come back with `--quiet false`
    (a one-line model description is printed instead of the table)."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ["WANDB_SILENT"] = "true"
    if cfg.trainer.get("enable_model_summary") is None:
        cfg.trainer.enable_model_summary = False


@contextlib.contextmanager
def restored_output_settings():
    """What `quiet` changes is put back when a command ends (tests and scripts run several)."""
    levels = {name: logging.getLogger(name).level for name in _CHATTY_LOGGERS}
    silent = os.environ.get("WANDB_SILENT")
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if silent is None:
            os.environ.pop("WANDB_SILENT", None)
        else:
            os.environ["WANDB_SILENT"] = silent


@contextlib.contextmanager
def known_warnings_ignored():
    """Scope of `KNOWN_WARNINGS`: one command (a script driving the CLI with run=False uses it too)."""
    with warnings.catch_warnings():
        for message in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


class NothingToDo(Exception):
    """A command that finds its work already done (a requeued job whose run finished): it says so
    and succeeds (exit status 0)."""


def main(args: list[str] | None = None) -> None:
    """Entry point; `args` as on the command line (tests call `main([...])` in-process). A known
    failure class (`errors.explain`) is one paragraph and exit status 1; the run folder a failed
    command created is removed unless it holds results (checkpoints, metrics)."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["data"]:  # fetch and verify the datasets of configs (not a Lightning command)
        from d2l_lightning.data_command import main as data_main

        return data_main(argv[1:])
    try:
        with known_warnings_ignored(), restored_output_settings():
            check_config_files(sys.argv[1:] if args is None else list(args))
            D2LCLI(args=args)
        runs.forget_created()
    except NothingToDo as done:
        if runs.global_rank() == 0:
            print(done, flush=True)
    except Exception as e:
        user_error = explain(e)
        loggers.close_wandb_run()
        runs.discard_unused()
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        raise SystemExit(getattr(user_error, "exit_status", 1)) from None


def run(args: list[str]) -> tuple[Path | None, str]:
    """Runs one command in this process (as `main`), capturing what it prints; returns the run
    directory it printed and the text. For scripts and tests that drive several runs."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(args)
    text = out.getvalue()
    found = re.findall(r"run directory: (.+)", text)
    return (Path(found[-1].strip()) if found else None), text
