"""Callbacks every run gets from the CLI: the book-style epoch line, the prediction writer, the
NaN/inf guard, checkpoint-on-SIGTERM, the best-checkpoint saver, a progress bar that redraws less
often, and in-place compile."""

import atexit
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import torch
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import (
    ModelCheckpoint,
    ModelSummary,
    ProgressBar,
    RichModelSummary,
    RichProgressBar,
)

from d2l_lightning import compat
from d2l_lightning.compat import batches_done_in_epoch, request_stop_after_batch

_STAGE_ORDER = {"train": 0, "val": 1, "test": 2}
_NOT_IN_THE_LINE = {"train/epoch_time", "train/samples_per_sec"}  # the line ends with the epoch's time


def _fmt(name: str, value: float) -> str:
    if name.endswith("acc"):
        return f"{value:.3f}"
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 else f"{value:.4g}"


class BookEpochLine(Callback):
    """Prints one line per epoch the way the book does, e.g.
    `epoch 5, loss 0.4858, train acc 0.836, val acc 0.815, 3.1 s` (train loss first, then every
    other epoch metric, then the epoch's wall time)."""

    # (a run resumed mid-epoch starts no epoch: its first line times the rest of the epoch)
    def on_fit_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        if trainer.is_global_zero and not any(isinstance(cb, ModelSummary) for cb in trainer.callbacks):
            # one line instead of the summary table (which `--quiet false` shows)
            total = sum(p.numel() for p in pl_module.parameters())
            trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
            print(f"{type(pl_module).__name__}: {total:,} parameters ({trainable:,} trainable); "
                  f"{trainer.max_epochs} epochs", flush=True)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if "/" in k and k.split("/", 1)[0] in ("train", "val") and torch.is_tensor(v)
                   and v.numel() == 1 and k not in _NOT_IN_THE_LINE}
        parts = [f"epoch {trainer.current_epoch + 1}"]
        if "train/loss" in metrics:
            parts.append(f"loss {_fmt('loss', metrics.pop('train/loss'))}")
        for key in sorted(metrics, key=lambda k: (_STAGE_ORDER[k.split("/")[0]], not k.endswith("/loss"), k)):
            stage, name = key.split("/", 1)
            parts.append(f"{stage} {name.replace('_', ' ')} {_fmt(name, metrics[key])}")
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        line = ", ".join(parts)
        bar = trainer.progress_bar_callback
        if bar is not None and hasattr(bar, "print") and bar.is_enabled:
            bar.print(line)
        else:
            print(line, file=sys.stdout, flush=True)


def _batch_len(batch) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    return len(first) if hasattr(first, "__len__") else 1


class TrainingCurves(Callback):
    """What a researcher's dashboard shows beside the exact epoch means:

    - every `trainer.log_every_n_steps` training steps, the latest batch's train metrics
      (`train/loss_step`, `train/acc_step`, `train/ppl_step`, ...) and the learning rate (`lr`; a parameter
      group or optimizer with another learning rate also as `lr-<optimizer><i>_group<j>`), at the
      step's index;
    - per epoch, its wall time and throughput (`train/epoch_time` in s, `train/samples_per_sec`).

    Step values go straight to the loggers (metrics.csv, W&B), not through `self.log`, whose
    bookkeeping would cost a tiny model more than its whole step."""

    def on_fit_start(self, trainer, pl_module) -> None:  # (a run resumed mid-epoch starts no epoch)
        self._start, self._samples = time.perf_counter(), 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start, self._samples = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._samples += _batch_len(batch)
        every = trainer.log_every_n_steps
        if not every or trainer.global_step % every or not trainer.loggers:
            return
        metrics = {name: float(value) for name, value in pl_module.step_metrics().items()}
        for i, optimizer in enumerate(trainer.optimizers):
            for j, group in enumerate(optimizer.param_groups):
                if "lr" not in group:  # (AdaDelta has no learning rate)
                    continue
                if i == j == 0:
                    metrics["lr"] = float(group["lr"])
                elif float(group["lr"]) != metrics.get("lr"):  # a group of its own (a head at 10x)
                    metrics[f"lr-{type(optimizer).__name__}{i}_group{j}"] = float(group["lr"])
        metrics["epoch"] = trainer.current_epoch
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step - 1)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        seconds = max(time.perf_counter() - self._start, 1e-9)
        pl_module.log("train/epoch_time", seconds, on_epoch=True, on_step=False)
        pl_module.log("train/samples_per_sec", self._samples / seconds, on_epoch=True, on_step=False)


class ThrottledProgressBar(RichProgressBar):
    """Lightning's rich progress bar, redrawn during training at most every `interval` seconds
    (and at each epoch's last batch). Redrawing after every batch cost ~0.1 ms per step on this
    2-core CPU, ~15% of a whole softmax-regression step (scripts/benchmark.py)."""

    def __init__(self, interval: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.interval = interval
        self._last = 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval or trainer.is_last_batch:
            self._last = now
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the run's folder is printed at the end; its version says nothing here
        return metrics

    def _get_train_description(self, current_epoch: int) -> str:
        # "Epoch 1/5" for the first of five, as the book line counts (Lightning shows "Epoch 0/4")
        return compat.progress_train_description(self, super()._get_train_description, current_epoch)


class PredictionWriter(Callback):
    """Collects `predict_step` outputs (dicts of tensors or of lists, e.g. generated texts) and writes
    them as one table into the run directory (the data module decides the columns and file name:
    `predictions.csv`, Kaggle's `submission.csv`, chapter 6's `generated.csv`), and into the W&B run
    as a table, with the first `table_images` input images beside their rows for image models."""

    def __init__(self, run_dir: str | Path, table_rows: int = 1000, table_images: int = 32):
        self.run_dir = Path(run_dir)
        self.path: Path | None = None
        self.table_rows, self.table_images = table_rows, table_images

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self._outputs: list[dict] = []
        self._images: list[torch.Tensor] = []

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        # tensors (one row per example), or lists such as generated texts
        self._outputs.append({k: v.detach().cpu() if torch.is_tensor(v) else list(v)
                              for k, v in outputs.items()})
        X = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
        kept = sum(len(x) for x in self._images)
        if torch.is_tensor(X) and X.dim() == 4 and X.is_floating_point() and kept < self.table_images:
            self._images.append(X[: self.table_images - kept].detach().float().cpu())

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero or not self._outputs:
            return
        merged = {k: torch.cat([o[k].reshape(len(o[k]), *o[k].shape[1:]) for o in self._outputs])
                  if torch.is_tensor(self._outputs[0][k]) else [x for o in self._outputs for x in o[k]]
                  for k in self._outputs[0]}
        dm = trainer.datamodule
        frame = dm.prediction_frame(merged) if hasattr(dm, "prediction_frame") else pd.DataFrame(
            {k: v.numpy() if torch.is_tensor(v) else v for k, v in merged.items()})
        name = getattr(dm, "prediction_filename", "predictions.csv")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / name
        frame.to_csv(self.path, index=False)
        print(f"predictions: {len(frame)} rows written to {self.path}", flush=True)
        extra = dm.prediction_files(merged, self.run_dir) if hasattr(dm, "prediction_files") else []
        if extra:
            print(f"predictions: {len(extra)} more files in {self.run_dir} ({extra[0].name}, ...)", flush=True)
        self._to_wandb(trainer, frame)

    def _to_wandb(self, trainer, frame: pd.DataFrame) -> None:
        from pytorch_lightning.loggers import WandbLogger

        runs = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not runs:
            return
        tables = {"predictions": frame.head(self.table_rows)}
        if self._images:  # the first images with their predicted (and true) labels
            import wandb

            images = torch.cat(self._images)[: len(frame)]
            with_images = frame.head(len(images)).copy()
            with_images.insert(0, "image", [wandb.Image(img.permute(1, 2, 0).clamp(0, 1).numpy())
                                            for img in images])
            tables["prediction_images"] = with_images
        for run in runs:
            for key, table in tables.items():
                run.log_table(key=key, dataframe=table)


class BestCheckpoint(ModelCheckpoint):
    """`checkpoints/best-<epoch>.ckpt`: the best state by the model's monitor. When the monitored
    stage never runs (a `val/...` monitor and no validation data, as 3.16 trained on the whole
    training set, or `limit_val_batches: 0`) there is nothing to rank by, so it saves nothing
    (`last.ckpt` still holds the latest state) instead of warning every epoch that the metric is
    missing."""

    def __init__(self, dirpath, monitor: str, mode: str):
        super().__init__(dirpath=dirpath, monitor=monitor, mode=mode, save_top_k=1,
                         filename="best-{epoch:03d}", auto_insert_metric_name=False)
        self.enabled = True

    def format_checkpoint_name(self, metrics, filename=None, ver=None, prefix=None) -> str:
        # epochs are counted from 1 wherever a person reads them (the book line says "epoch 1")
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if self.monitor.startswith("val/"):
            dm = trainer.datamodule
            has_val = dm is None or getattr(dm, "val_set", True) is not None
            self.enabled = bool(has_val and trainer.limit_val_batches != 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.enabled:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.enabled:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.enabled:
            super().on_validation_end(trainer, pl_module)


class FiniteLossGuard(Callback):
    """Stops training with a clear message when the training loss becomes NaN or infinite, before
    any checkpoint of the broken state is written (the checkpoints already on disk stay the last
    good ones). Each step's loss is copied into a small buffer on the device (one cheap operation,
    no GPU synchronisation); the buffer is read back every `check_every` steps, before validation
    and at epoch ends, which all come before a checkpoint is saved."""

    def __init__(self, check_every: int = 50):
        self.check_every = check_every
        self._losses: torch.Tensor | None = None
        self._steps: list[int] = []  # the global step of each buffered loss

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        if self._losses is None or self._losses.device != loss.device:
            self._losses = torch.zeros(self.check_every, device=loss.device)
        self._losses[len(self._steps)] = loss.detach()
        self._steps.append(trainer.global_step)
        if len(self._steps) == self.check_every:
            self._check(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def _check(self, trainer) -> None:
        problem = self.problem(trainer)
        if problem:
            from d2l_lightning.errors import TrainingDiverged

            raise TrainingDiverged(problem)

    def problem(self, trainer) -> str | None:
        """The message if a buffered loss is NaN/inf on any rank (a collective under DDP), else None."""
        if self._losses is None:
            return None
        bad = (~torch.isfinite(self._losses[: len(self._steps)])).nonzero()
        first_bad = torch.tensor(self._steps[int(bad[0])] if len(bad) else -1, device=self._losses.device)
        self._steps.clear()
        first_bad = int(trainer.strategy.reduce(first_bad, reduce_op="max"))  # any rank's
        if first_bad < 0:
            return None
        ckpt = next((Path(cb.dirpath) / "last.ckpt" for cb in trainer.checkpoint_callbacks
                     if getattr(cb, "dirpath", None) and (Path(cb.dirpath) / "last.ckpt").is_file()), None)
        kept = f"The last good checkpoint, {ckpt}, was kept unchanged." if ckpt else \
            "No checkpoint had been written yet."
        return (f"the training loss became NaN or infinite at step {first_bad} "
                f"(epoch {trainer.current_epoch + 1}); training stopped before saving that state. {kept} "
                "Lower the learning rate, check the "
                "data for NaN/inf values, or add gradient clipping (trainer.gradient_clip_val).")


def _destroy_process_group_at_exit() -> None:
    """Lightning destroys NCCL process groups at exit but leaves gloo ones (CPU DDP) to interpreter
    shutdown, where gloo's worker threads, still holding tensors, now and then abort the finished
    process (SIGABRT, "terminate called without an active exception"). Destroy it while Python is
    still fully alive."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


# Here, not in cli.py: every DDP rank imports this module (its callbacks travel to spawned ranks).
atexit.register(_destroy_process_group_at_exit)


class SaveOnSignal(Callback):
    """On SIGTERM (a cluster's pre-emption or `kill`; SIGUSR1 under SLURM is Lightning's own requeue)
    training stops after a batch that every DDP rank agrees on, `checkpoints/last.ckpt` is written
    (mid-epoch too: resuming from it is exact) with a note on how to resume, and the process exits
    with status 0.

    Lightning 2.6's own SIGTERM handler runs a collective (a broadcast) inside the signal handler
    and lets each rank stop on its own signal, so with every rank signalled, as SLURM does, the
    ranks' collectives interleave and the job hangs (seen in the DDP test). Here the handler only
    records the signal; the ranks agree with one all-reduce every `check_every` steps and at epoch
    ends (Lightning itself already synchronises each step under DDP), and all then stop through
    Lightning's own check at the end of that batch or epoch.
    """

    def __init__(self, run_dir: str | Path, check_every: int = 1):
        self.run_dir = Path(run_dir)
        self.check_every = check_every
        self._signalled = False

    def _record(self, signum, frame) -> None:
        self._signalled = True

    def _install(self) -> None:
        # after Lightning installed its handlers (Trainer._run), which it restores at teardown
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._record)

    def on_sanity_check_start(self, trainer, pl_module) -> None:
        self._install()

    def on_train_start(self, trainer, pl_module) -> None:
        self._install()

    def _stop_if_signalled(self, trainer, pl_module) -> None:
        signalled = self._signalled
        if trainer.world_size > 1:  # any rank's signal stops all of them, at the same batch
            flag = torch.tensor(float(signalled), device=pl_module.device)
            signalled = bool(trainer.strategy.reduce(flag, reduce_op="max"))
        if signalled:
            request_stop_after_batch(trainer)  # Lightning stops after this batch/epoch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.world_size == 1 or trainer.global_step % self.check_every == 0:
            self._stop_if_signalled(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop_if_signalled(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        # the NaN guard reads its losses back only every few steps: never save a diverged state
        guard = next((cb for cb in trainer.callbacks if isinstance(cb, FiniteLossGuard)), None)
        problem = guard.problem(trainer) if guard is not None else None
        if problem:
            if trainer.is_global_zero:
                print(f"error: received SIGTERM, but {problem}", file=sys.stderr, flush=True)
            exception.code = 1
            return
        path = self.run_dir / "checkpoints" / "last.ckpt"
        # the full training state; collective under DDP, rank 0 writes, atomically
        trainer.save_checkpoint(path, weights_only=False)
        if trainer.is_global_zero:
            done = batches_done_in_epoch(trainer)
            total = trainer.num_training_batches
            where = (f"after epoch {trainer.current_epoch}" if done >= total else
                     f"in epoch {trainer.current_epoch + 1} after {done} of its {total} batches")
            print(f"received SIGTERM {where} (step {trainer.global_step}): "
                  f"saved {path}. Resume with: python -m d2l_lightning fit --config "
                  f"{self.run_dir / 'config.yaml'} --ckpt_path last", flush=True)
            print(f"run directory: {self.run_dir}", flush=True)


class Compile(Callback):
    """`torch.compile` the model in place (`nn.Module.compile`), from config:
    `--config configs/trainer/compile.yaml`. In place keeps the state-dict keys, so checkpoints
    load with or without compile (compiling a wrapper would prefix every key with `_orig_mod.`).

    Args:
        backend: the torch.compile backend (`inductor` needs a C++ compiler; `aot_eager` checks
            the graph capture without one).
        mode: e.g. `max-autotune` on GPUs.
    """

    def __init__(self, backend: str = "inductor", mode: str | None = None):
        self.backend, self.mode = backend, mode

    def setup(self, trainer, pl_module, stage: str) -> None:
        pl_module.compile(backend=self.backend, mode=self.mode)



def command_callbacks(command: str | None, run_dir: Path, model, trainer_cfg) -> list[Callback]:
    """The callbacks of one CLI command, on top of those the config lists: only what the command
    uses, since each callback costs a few microseconds per hook call, every step. (`command` None
    is a script that builds the CLI with run=False and calls `trainer.fit` itself: K-fold,
    benchmarks; it gets fit's.)"""
    callbacks: list[Callback] = list(trainer_cfg.get("callbacks") or []) + [BookEpochLine()]
    if command == "predict":
        callbacks.append(PredictionWriter(run_dir))
    if command in (None, "fit"):
        callbacks += [TrainingCurves(), FiniteLossGuard(), SaveOnSignal(run_dir)]
    if command in (None, "fit") and trainer_cfg.get("enable_checkpointing") is not False:
        # absolute, as the path in a checkpoint must match when a fit resumes in the same folder
        ckpt_dir = run_dir.resolve() / "checkpoints"
        # Two checkpoint callbacks: Lightning 2.6 refreshes `save_last` only in steps where a
        # top-k checkpoint was saved, so last.ckpt would stay at the best epoch. The first keeps
        # the latest state (overwritten each epoch), the second the best by the model's monitor.
        callbacks += [ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                                      enable_version_counter=False),
                      BestCheckpoint(ckpt_dir, model.monitor, model.monitor_mode)]
    bar = trainer_cfg.get("enable_progress_bar") is not False and \
        not any(isinstance(cb, ProgressBar) for cb in callbacks)
    if bar:
        callbacks.append(ThrottledProgressBar())  # Lightning's default bar, redrawn less often
    if trainer_cfg.get("enable_model_summary") is not False and \
            not any(isinstance(cb, ModelSummary) for cb in callbacks):
        # the depth at which the model's own layers show, each with its input/output shapes
        callbacks.append((RichModelSummary if bar else ModelSummary)(max_depth=model.summary_depth))
    return callbacks
