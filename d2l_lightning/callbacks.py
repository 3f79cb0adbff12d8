"""Callbacks every run gets from the CLI: the book-style epoch line, the prediction writer, the
NaN/inf guard, checkpoint-on-signal (SIGTERM, SLURM's SIGUSR1, Ctrl-C), the lost-rank watch under
DDP, the best-checkpoint saver, a progress bar that redraws less often, and in-place compile."""

import atexit
import contextlib
import functools
import os
import signal
import socket
import subprocess
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
from pytorch_lightning.plugins.environments import SLURMEnvironment

from d2l_lightning import compat
from d2l_lightning.compat import batches_done_in_epoch, request_stop_after_batch
from d2l_lightning.errors import check_range

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
    as a table, with the first `table_images` input images beside their rows for image models
    (one row per image), or the image files the data module writes (a detector's boxes drawn)."""

    def __init__(self, run_dir: str | Path, table_rows: int = 1000, table_images: int = 32):
        self.run_dir = Path(run_dir)
        self.path: Path | None = None
        self.table_rows, self.table_images = table_rows, table_images

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self._outputs: list[dict] = []
        self._images: list[torch.Tensor] = []
        self._examples = 0  # input images seen: a row per image only if the table has as many rows

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        # tensors (one row per example), or lists such as generated texts
        self._outputs.append({k: v.detach().cpu() if torch.is_tensor(v) else list(v)
                              for k, v in outputs.items()})
        X = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
        kept = sum(len(x) for x in self._images)
        if torch.is_tensor(X) and X.dim() == 4 and X.is_floating_point():
            self._examples += len(X)
            if kept < self.table_images:
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
        self._to_wandb(trainer, frame, extra)

    def _to_wandb(self, trainer, frame: pd.DataFrame, files: list[Path]) -> None:
        from pytorch_lightning.loggers import WandbLogger

        runs = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not runs:
            return
        import wandb

        tables = {"predictions": frame.head(self.table_rows)}
        pictures = [Path(f) for f in files if Path(f).suffix.lower() in (".png", ".jpg", ".jpeg")]
        if self._images and len(frame) == self._examples:  # the first images, their predicted (and true) labels
            images = torch.cat(self._images)
            with_images = frame.head(len(images)).copy()
            with_images.insert(0, "image", [wandb.Image(img.permute(1, 2, 0).clamp(0, 1).numpy())
                                            for img in images])
            tables["prediction_images"] = with_images
        elif pictures:  # rows are not images (a detector's boxes): the pictures the data module drew
            pictures = pictures[: self.table_images]
            tables["prediction_images"] = pd.DataFrame({"image": [wandb.Image(str(p)) for p in pictures],
                                                        "file": [p.name for p in pictures]})
        for run in runs:
            for key, table in tables.items():
                run.log_table(key=key, dataframe=table)


class _SettledStateKey:
    """Lightning formats every callback's `state_key` into a profiler label at every hook call,
    several times a step; a checkpoint callback's key is the repr of its settings (~4 us each time
    on a 2-core CPU), which never change once it is made: it is computed once."""

    @functools.cached_property
    def state_key(self) -> str:
        return super().state_key


class LastCheckpoint(_SettledStateKey, ModelCheckpoint):
    """`checkpoints/last.ckpt`: the latest state, overwritten every epoch (and at a signal)."""

    def __init__(self, dirpath):
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1,
                         enable_version_counter=False)

    def _generate_state_key(self, **kwargs) -> str:
        return f"ModelCheckpoint{kwargs!r}"  # the plain callback's key, which earlier checkpoints carry


class BestCheckpoint(_SettledStateKey, ModelCheckpoint):
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


#: the signals that stop a fit with a checkpoint; when ranks got different ones, the later in this
#: list wins (SLURM follows its requeue signal with SIGTERM: the requeue must still happen)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


class SaveOnSignal(Callback):
    """SIGTERM (a cluster's pre-emption, `scancel`, `kill`), SIGUSR1 (SLURM's `--signal=SIGUSR1@120`
    before the time limit) and SIGINT (Ctrl-C) all stop a fit the same way: after a batch that every
    DDP rank agrees on, `checkpoints/last.ckpt` is written (mid-epoch too: resuming from it is
    exact) and the process exits. SIGTERM: with a note on how to resume, status 0. SIGUSR1 under
    SLURM: rank 0 then runs `scontrol requeue <job id>`, and the requeued job resumes from that
    checkpoint in its `slurm-<job id>` folder by itself (status 0). SIGINT: with the note, status 130.

    No rank runs a collective inside a signal handler: the handler only records the signal; the
    ranks agree with one all-reduce every `check_every` steps and at epoch ends (Lightning itself
    already synchronises each step under DDP), and all then stop through Lightning's own check at
    the end of that batch or epoch. (Lightning 2.6's SIGTERM handler broadcasts inside the handler,
    and its SLURM SIGUSR1 handler saves a checkpoint there, both with each rank acting on its own
    signal: with every rank signalled, as SLURM does, the collectives interleave and the job can
    hang. Its SLURM auto-requeue is turned off, and its handlers replaced, while a fit runs.)
    """

    def __init__(self, run_dir: str | Path, check_every: int = 1):
        self.run_dir = Path(run_dir)
        self.check_every = check_every
        self._received = 0  # 1 + index in STOP_SIGNALS of the strongest signal received (0: none)
        self._stopping = 0  # the same, agreed by every rank
        self._active = False
        self._previous: dict[int, object] = {}

    def _record(self, signum, frame) -> None:
        if self._active:
            self._received = max(self._received, STOP_SIGNALS.index(signum) + 1)
            return
        previous = self._previous.get(signum, signal.SIG_DFL)  # outside a fit: as before it
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current != self._record:
                self._previous.setdefault(signum, current)
                signal.signal(signum, self._record)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        self._active, self._received, self._stopping = True, 0, 0
        environment = getattr(trainer.strategy, "cluster_environment", None)
        if isinstance(environment, SLURMEnvironment):
            environment.auto_requeue = False  # this callback requeues, after a checkpoint all ranks agreed on
        # Before Lightning installs its handlers (after the setup hooks): it then sees one for
        # SIGUSR1 and adds none of its own; SIGTERM's is taken back at the start of training.
        self._install()

    def on_sanity_check_start(self, trainer, pl_module) -> None:
        self._install()

    def on_train_start(self, trainer, pl_module) -> None:
        self._install()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        self._active = False  # (after a crash, Lightning puts this handler back: it passes signals on)
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._previous.items():
                if signal.getsignal(signum) == self._record and previous is not None:
                    signal.signal(signum, previous)
            self._previous.clear()

    def _stop_if_signalled(self, trainer, pl_module) -> None:
        received = self._received
        if trainer.world_size > 1:  # any rank's signal stops all of them, at the same batch
            flag = torch.tensor(float(received), device=pl_module.device)
            received = int(trainer.strategy.reduce(flag, reduce_op="max"))
        if received:
            self._stopping = received
            request_stop_after_batch(trainer)  # Lightning stops after this batch/epoch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.world_size == 1 or trainer.global_step % self.check_every == 0:
            self._stop_if_signalled(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop_if_signalled(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            self._active = False  # a crash: Ctrl-C is an interrupt again
            return
        signum = STOP_SIGNALS[self._stopping - 1] if self._stopping else signal.SIGTERM
        name = signal.Signals(signum).name
        # Stopping already: a SIGTERM now (SLURM's, right after the requeue) must not cut the save or
        # the exit short. This handler ignores it until Python shuts down, which would then reset it
        # to the default (ending the process by SIGTERM): ignored at the OS level from then on.
        atexit.register(_ignore_stop_signals)
        # the NaN guard reads its losses back only every few steps: never save a diverged state
        guard = next((cb for cb in trainer.callbacks if isinstance(cb, FiniteLossGuard)), None)
        problem = guard.problem(trainer) if guard is not None else None
        if problem:
            if trainer.is_global_zero:
                print(f"error: received {name}, but {problem}", file=sys.stderr, flush=True)
            exception.code = 1
            return
        path = self.run_dir / "checkpoints" / "last.ckpt"
        # the full training state; collective under DDP, rank 0 writes, atomically
        trainer.save_checkpoint(path, weights_only=False)
        if signum == signal.SIGINT:
            exception.code = 130  # as a shell reports a process ended by Ctrl-C
        if not trainer.is_global_zero:
            return
        done = batches_done_in_epoch(trainer)
        total = trainer.num_training_batches
        where = (f"after epoch {trainer.current_epoch}" if done >= total else
                 f"in epoch {trainer.current_epoch + 1} after {done} of its {total} batches")
        resume = (f"Resume with: python -m d2l_lightning fit --config {self.run_dir / 'config.yaml'} "
                  "--ckpt_path last")
        if signum == signal.SIGUSR1 and os.environ.get("SLURM_JOB_ID"):
            resume = requeue_slurm_job()
        print(f"received {name} {where} (step {trainer.global_step}): saved {path}. {resume}", flush=True)
        print(f"run directory: {self.run_dir}", flush=True)
        wandb_sync_hint(trainer)


def _ignore_stop_signals() -> None:
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(signum, signal.SIG_IGN)


def requeue_slurm_job() -> str:
    """`scontrol requeue` of this SLURM job (of this task of an array job); says what happened."""
    job = os.environ["SLURM_JOB_ID"]
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    try:
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return (f"Could not requeue SLURM job {job} ({e}); submit it again: with the same job id it "
                "continues from this checkpoint, else add --ckpt_path last.")
    if result.returncode != 0:
        return (f"`scontrol requeue {job}` failed ({result.stderr.strip()[:200]}); submit the job again "
                "with --ckpt_path last.")
    return f"Requeued SLURM job {job}: it continues from this checkpoint, in this folder, by itself."


def wandb_sync_hint(trainer) -> None:
    """The one line saying how to upload an offline W&B run (rank 0, at the end of a fit)."""
    from d2l_lightning.loggers import offline_wandb_dirs, sync_hint

    for run in offline_wandb_dirs(trainer):
        print(sync_hint(run), flush=True)


class LostRankWatch(Callback):
    """Under DDP, a rank whose process dies or whose node stops answering stops the others within
    `timeout` seconds, with an error naming it, instead of leaving them waiting in a collective
    until its timeout (30 minutes by default). The checkpoints already written stay; `fit
    --ckpt_path last` (or, under SLURM, the requeued job) continues from the last one.

    Each rank adds to a counter of its own in the process group's rendezvous store every `interval`
    seconds, from a thread (so a rank busy alone, saving a checkpoint say, still counts); a counter
    that stops moving for `timeout` seconds, or a store that stops answering that long (it lives in
    rank 0's process, or in torchrun's agent), is a lost rank. A rank started by Lightning's own
    launcher from this process is lost as soon as its process has ended. A collective that fails
    because a peer is gone (gloo notices a closed connection at once) is checked the same way, over
    three intervals. In a config: `trainer.callbacks: [{class_path:
    d2l_lightning.callbacks.LostRankWatch, init_args: {timeout: 30}}]`."""

    def __init__(self, timeout: float = 60.0, interval: float = 1.0):
        check_range("LostRankWatch interval", interval, "> 0")
        check_range("LostRankWatch timeout", timeout, f">= {3 * interval}",
                    "It must span a few intervals, or a slow heartbeat would count as a lost rank.")
        self.timeout, self.interval = timeout, interval
        self._thread: threading.Thread | None = None
        self._done: threading.Event | None = None  # (made in setup: `ddp_spawn` pickles callbacks)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if trainer.world_size < 2 or self._thread is not None or not os.environ.get("MASTER_PORT"):
            return
        from datetime import timedelta

        self._rank, self._world, self._trainer = trainer.global_rank, trainer.world_size, trainer
        first_child = trainer.node_rank * trainer.num_devices + 1
        self._children = {first_child + i: p for i, p in enumerate(compat.launcher_children(trainer))}
        host, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ["MASTER_PORT"])
        self._address = f"{host}:{port}"
        self._store = torch.distributed.TCPStore(host, port, is_master=False, wait_for_workers=False,
                                                 timeout=timedelta(seconds=max(self.interval * 5, 10)))
        self._store.set(f"d2l/host/{self._rank}", socket.gethostname())
        self._done, self._stopping = threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="d2l-lost-rank-watch", daemon=True)
        self._thread.start()

    def _counts(self) -> list[int] | None:
        """Every rank's counter (this rank's moved on by one), or None when the store is gone."""
        try:
            return [int(self._store.add(f"d2l/beat/{r}", 1 if r == self._rank else 0))
                    for r in range(self._world)]
        except Exception:  # connection refused/reset: the store's process is gone
            return None

    def _ended_children(self) -> list[int]:
        return [r for r, p in self._children.items() if p.poll() is not None and p.returncode != 0]

    def _watch(self) -> None:
        last, since = self._counts() or [0] * self._world, [time.monotonic()] * self._world
        store_lost_at = None
        while not self._done.wait(self.interval):
            if self._ended_children():
                return self._stop(self._ended_children())
            now, counts = time.monotonic(), self._counts()
            if counts is None:
                store_lost_at = store_lost_at or now
                if now - store_lost_at > self.timeout:
                    return self._stop(None)
                continue
            store_lost_at = None
            for r, (old, new) in enumerate(zip(last, counts)):
                if new != old:
                    since[r] = now
            last = counts
            lost = [r for r in range(self._world) if now - since[r] > self.timeout]
            if lost:
                return self._stop(lost)

    def lost_ranks(self) -> list[int] | None:
        """The ranks gone now: ended children, else those whose counters do not move over three
        intervals ([] for none, None when the store itself is gone)."""
        before = self._counts()
        for _ in range(3):
            if self._ended_children():
                return self._ended_children()
            time.sleep(self.interval)
        after = self._counts()
        if before is None or after is None:
            return None
        return [r for r in range(self._world) if r != self._rank and before[r] == after[r]]

    def _describe(self, rank: int) -> str:
        host = "?"
        with contextlib.suppress(Exception):
            if self._store.check([f"d2l/host/{rank}"]):
                host = self._store.get(f"d2l/host/{rank}").decode()
        text = f"rank {rank} (on {host}"
        code = self._children[rank].returncode if rank in self._children else None
        if code is not None and code < 0:
            text += f", ended by {signal.Signals(-code).name}"
        elif code:
            text += f", exited with status {code}"
        return text + ")"

    def _stop(self, lost: list[int] | None) -> None:
        """One paragraph on stderr, the CSV rows so far on disk, the ranks this process started
        killed, and this process ended, whatever it is waiting in."""
        if self._done.is_set() or not self._stopping.acquire(blocking=False):
            return  # finished meanwhile, or the other thread is already stopping
        if lost is None:
            who = (f"the process group's rendezvous store at {self._address} stopped answering (it lives "
                   "in rank 0's process, or in torchrun's agent on the first node): rank 0 or its node is gone")
        else:
            who = (f"{' and '.join(self._describe(r) for r in lost)} of {self._world} stopped answering: "
                   "its process died or its node was lost")
        last = self._trainer.checkpoint_callback
        ckpt = Path(last.dirpath) / "last.ckpt" if last is not None and last.dirpath else None
        kept = (f"The last good checkpoint, {ckpt}, is kept: continue with fit --ckpt_path last (a "
                "requeued SLURM job does so by itself)." if ckpt is not None and ckpt.is_file() else
                "No checkpoint had been written yet.")
        print(f"error: rank {self._rank}: {who}. This rank stops instead of waiting for it in a "
              f"collective (LostRankWatch timeout {self.timeout:g} s). {kept}", file=sys.stderr, flush=True)
        from d2l_lightning.loggers import RunCSVLogger

        for logger in self._trainer.loggers:
            if isinstance(logger, RunCSVLogger):
                with contextlib.suppress(Exception):
                    logger.flush()
        for proc in self._children.values():
            with contextlib.suppress(Exception):
                proc.kill()
        sys.stdout.flush()
        os._exit(1)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if self._thread is not None and not isinstance(exception, (SIGTERMException, KeyboardInterrupt)):
            lost = self.lost_ranks()  # did this collective fail because a peer is gone?
            if lost != []:
                self._stop(lost)
        self.teardown(trainer, pl_module, "")

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._done is not None:
            self._done.set()
        self._thread = None


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



def _may_run_several_processes(trainer_cfg) -> bool:
    """Whether this command may run as several processes (where `LostRankWatch` matters): a DDP
    strategy or several devices or nodes in the config, a launcher's environment (torchrun, SLURM
    with several tasks), or several GPUs for `devices: auto`."""
    strategy, devices = str(trainer_cfg.get("strategy") or "auto"), trainer_cfg.get("devices")
    nodes = trainer_cfg.get("num_nodes") or 1
    if "ddp" in strategy or "fsdp" in strategy or "deepspeed" in strategy or int(nodes) > 1:
        return True
    if devices not in (None, "auto", 1, "1") and not (isinstance(devices, list) and len(devices) == 1):
        return True
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 or int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1:
        return True
    return devices in (None, "auto") and torch.cuda.is_available() and torch.cuda.device_count() > 1


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
    if _may_run_several_processes(trainer_cfg) and not any(isinstance(cb, LostRankWatch) for cb in callbacks):
        callbacks.append(LostRankWatch())
    if command in (None, "fit") and trainer_cfg.get("enable_checkpointing") is not False:
        # absolute, as the path in a checkpoint must match when a fit resumes in the same folder
        ckpt_dir = run_dir.resolve() / "checkpoints"
        # Two checkpoint callbacks: Lightning 2.6 refreshes `save_last` only in steps where a
        # top-k checkpoint was saved, so last.ckpt would stay at the best epoch. The first keeps
        # the latest state (overwritten each epoch), the second the best by the model's monitor.
        callbacks += [LastCheckpoint(ckpt_dir), BestCheckpoint(ckpt_dir, model.monitor, model.monitor_mode)]
    bar = trainer_cfg.get("enable_progress_bar") is not False and \
        not any(isinstance(cb, ProgressBar) for cb in callbacks)
    if bar:
        callbacks.append(ThrottledProgressBar())  # Lightning's default bar, redrawn less often
    if trainer_cfg.get("enable_model_summary") is not False and \
            not any(isinstance(cb, ModelSummary) for cb in callbacks):
        # the depth at which the model's own layers show, each with its input/output shapes
        callbacks.append((RichModelSummary if bar else ModelSummary)(max_depth=model.summary_depth))
    return callbacks
