"""Base LightningModules. A concrete book model states only its network (and, rarely, its loss);
optimizer wiring, metrics, logging, checkpoint extras and predict live here once.

Metric names follow `<stage>/<name>` (`train/loss`, `val/acc`, ...). They are exact means over all
samples of the epoch: each step adds batch mean x batch size to a running sum on the device, and
once per epoch the sums are reduced over DDP ranks and logged. (Calling `self.log` every step
costs ~0.8 ms on CPU, more than a whole softmax-regression step, so steps do not log.)
"""

import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from d2l_lightning.errors import CheckpointError, ConfigError

STAGES = ("train", "val", "test")


def accuracy(y_hat: Tensor, y: Tensor) -> Tensor:
    """Fraction of rows whose highest score is the true class (book 3.6 `accuracy`)."""
    return (y_hat.argmax(dim=1) == y).float().mean()


def state_dict_mismatch(expected: dict[str, Tensor], got: dict[str, Tensor]) -> str | None:
    """What keeps `got` from loading into a model whose state dict is `expected`, or None."""
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    shapes = [f"{k} {tuple(got[k].shape)} instead of {tuple(expected[k].shape)}" for k in expected
              if k in got and not isinstance(expected[k], nn.parameter.UninitializedParameter)
              and tuple(got[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"it lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    if extra:
        parts.append(f"it has {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''} besides")
    if shapes:
        parts.append(f"it has {', '.join(shapes[:3])}")
    return "; ".join(parts) or None


def has_uninitialized_params(module: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters())


class EpochMean:
    """Exact epoch mean of batch means weighted by batch size. A step only keeps a reference to its
    (detached, on-device) value; every `fold_every` batches, and when the sum is read, the kept
    values are added up in float64 with one stack and one dot product on their device. (Adding
    each step's value at once took three small tensor operations per metric per step.)"""

    fold_every = 512

    def __init__(self, total: Tensor | float = 0.0, count: int = 0):
        self.total, self.count = total, count
        self.finish: Callable[[Tensor], Tensor] | None = None
        self._values: list[Tensor] = []
        self._sizes: list[int] = []

    def add(self, value: Tensor, batch_size: int) -> None:
        self._values.append(value)
        self._sizes.append(batch_size)
        self.count += batch_size
        if len(self._values) >= self.fold_every:
            self.sum()

    def sum(self) -> Tensor:
        """Sum of batch mean x batch size so far (float64)."""
        if self._values:
            values = torch.stack(self._values).double().reshape(-1)
            sizes = torch.tensor(self._sizes, dtype=torch.float64, device=values.device)
            self.total = self.total + values.dot(sizes)
            self._values, self._sizes = [], []
        return torch.as_tensor(self.total, dtype=torch.float64)


class D2LModule(pl.LightningModule):
    """Base of every book model.

    Args:
        optimizer: a callable taking parameters (or parameter groups) and returning an optimizer;
            set by configs (`optimizer: {class_path: torch.optim.SGD, init_args: {lr: 0.1}}`).
            No default on purpose: jsonargparse carries a default optimizer's arguments over to
            the class a config names (a default SGD's lr=0.001 would become Adadelta's lr).
        scheduler: optional callable taking the optimizer and returning an LR scheduler.
    """

    #: metric that selects the "best" checkpoint, and whether lower or higher is better
    monitor: str = "val/loss"
    monitor_mode: str = "min"

    def __init__(
        self,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
    ):
        super().__init__()
        # Callables are not hyperparameters one can put in a checkpoint; the run's config.yaml
        # keeps them. Under the CLI the saved hparams carry the model's class path (see `load`).
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.optimizer = optimizer
        self.scheduler = scheduler
        # stage -> metric name -> its running epoch mean
        self._epoch_sums: dict[str, dict[str, EpochMean]] = {}

    # Lightning sets `_current_fx_name` around every hook call, ~40 times per training step;
    # nn.Module.__setattr__ (checks for parameters, buffers, submodules) made that ~0.08 ms of a
    # ~0.9 ms softmax-regression step on CPU. It is a plain string, so it skips those checks.
    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # --- what a family or model may override (families define `loss(y_hat, y)`) -------------
    def param_groups(self) -> Iterable[Tensor] | list[dict[str, Any]]:
        """What the optimizer gets; override to give groups their own settings (3.12 decays only
        the weight; fine-tuning gives the new head 10x the learning rate)."""
        return self.parameters()

    def init_weights(self) -> None:
        """Called once lazy layers are materialised (see `setup`); models with lazy layers and a
        book-specific initialisation put it here."""

    # --- Lightning hooks ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        # Lazy layers must have shapes before DDP wraps the model and before a checkpoint is
        # restored: one dry forward pass on a real batch materialises them.
        if has_uninitialized_params(self):
            dm = self.trainer.datamodule if self._trainer is not None else None
            if dm is None or not hasattr(dm, "example_batch"):
                raise RuntimeError(f"{type(self).__name__} has lazy layers but no datamodule to size them")
            X, _ = dm.example_batch()
            with torch.no_grad():
                self(X.to(self.device))
            self.init_weights()

    def configure_optimizers(self):
        if self.optimizer is None:
            raise ConfigError(f"{type(self).__name__} has no optimizer: set model.init_args.optimizer in the "
                              "config, e.g. {class_path: torch.optim.SGD, init_args: {lr: 0.1}}.")
        try:
            optimizer = self.optimizer(self.param_groups())
            scheduler = self.scheduler(optimizer) if self.scheduler is not None else None
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{type(self).__name__}: the optimizer or scheduler in the config cannot "
                              f"be built: {e}. Fix model.init_args.optimizer / scheduler.") from None
        if scheduler is None:
            return optimizer
        config = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = self.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    def shared_step(self, batch, stage: str) -> Tensor:
        X, y = batch
        y_hat = self(X)
        loss = self.loss(y_hat, y)
        self.log_mean(f"{stage}/loss", loss.detach(), y.shape[0])
        self.update_metrics(y_hat.detach(), y, stage)
        return loss

    def log_mean(self, name: str, value: Tensor, batch_size: int,
                 finish: Callable[[Tensor], Tensor] | None = None) -> None:
        """Adds a batch's mean `value` (weighted by `batch_size`) to the epoch mean of `name`
        (`"<stage>/<metric>"`), logged at the end of the stage's epoch; `finish` maps the mean to
        the logged value (`torch.sqrt` turns a mean squared error into an RMSE)."""
        metrics = self._epoch_sums.setdefault(name.split("/", 1)[0], {})
        mean = metrics.get(name)
        if mean is None:
            mean = metrics[name] = EpochMean()
        mean.finish = finish  # (a checkpoint restores sums without it)
        mean.add(value.detach(), batch_size)

    def _sums_and_counts(self, stage: str) -> Tensor:
        """[[sum, count], ...] of the stage's metrics, float64 on this device, summed over ranks."""
        t = torch.stack([torch.stack([m.sum().to(self.device),
                                      torch.tensor(float(m.count), dtype=torch.float64, device=self.device)])
                         for m in self._epoch_sums[stage].values()])
        return self.trainer.strategy.reduce(t, reduce_op="sum")  # all DDP ranks' samples

    def _log_epoch(self, stage: str, keep: bool = False) -> None:
        if not self._epoch_sums.get(stage):
            return
        for (name, m), (total, count) in zip(self._epoch_sums[stage].items(), self._sums_and_counts(stage)):
            mean = (total / count).float()
            self.log(name, m.finish(mean) if m.finish else mean, on_step=False, on_epoch=True,
                     prog_bar=stage != "test", rank_zero_only=False)
        if not keep:
            del self._epoch_sums[stage]

    # The epoch's train metrics are logged at its last batch, so that callbacks' on_train_epoch_end
    # (the book-style line, which runs before the module's hook) already sees them.
    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.trainer.is_last_batch:
            self._log_epoch("train")

    def on_train_epoch_end(self) -> None:
        # An epoch cut short (max_steps) logs the mean of the batches it trained, and keeps the sums
        # for its checkpoint: a run resumed from there finishes the epoch with its exact mean.
        self._log_epoch("train", keep=True)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def update_metrics(self, y_hat: Tensor, y: Tensor, stage: str) -> None:
        """Families add their metrics here (accuracy, log RMSE, ...)."""

    def training_step(self, batch, batch_idx):
        return self.shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self.shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self.shared_step(batch, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0) -> dict[str, Tensor]:
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        return {"prediction": self(X).squeeze(-1)}

    # Resuming from an epoch-boundary checkpoint must continue exactly like the uninterrupted run:
    # the global RNGs (dropout masks, augmentation) are saved with the weights. Stored as tensors
    # and plain Python values so the checkpoint still loads with `weights_only=True`.
    # A checkpoint written mid-epoch (on SIGTERM) also keeps the epoch's running train sums, so
    # the resumed epoch's train metrics are those of the uninterrupted run. Under DDP every rank
    # saves (collectively); the sums of all ranks are kept and restored on rank 0.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        np_state = np.random.get_state()
        checkpoint["d2l_rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
            "python": _to_plain(random.getstate()),
        }
        if self._epoch_sums.get("train") and self._trainer is not None and self.trainer.state.fn == "fit":
            t = self._sums_and_counts("train").cpu()
            checkpoint["d2l_train_sums"] = {name: [row[0], int(row[1])]
                                            for name, row in zip(self._epoch_sums["train"], t)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Refuse a checkpoint of another model with a clear message (here, after setup() has
        # built every layer) instead of load_state_dict's traceback.
        problem = state_dict_mismatch(self.state_dict(), checkpoint.get("state_dict", {}))
        if problem:
            raise CheckpointError(
                f"the checkpoint is of another model than {type(self).__name__} from the config: {problem}. "
                "Pass the config.yaml of the run that wrote it (--config <run>/config.yaml).")
        sums = checkpoint.get("d2l_train_sums")
        if sums and self.global_rank == 0:
            self._epoch_sums["train"] = {name: EpochMean(total, count) for name, (total, count) in sums.items()}
        state = checkpoint.get("d2l_rng")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))


def _to_plain(obj):
    return [_to_plain(o) for o in obj] if isinstance(obj, tuple) else obj


class Classifier(D2LModule):
    """Every image/text classifier: cross-entropy loss, accuracy per stage, predicted labels.
    `forward` returns logits (scores before softmax)."""

    monitor = "val/acc"
    monitor_mode = "max"

    def __init__(self, num_classes: int = 10, optimizer: OptimizerCallable | None = None,
                 scheduler: LRSchedulerCallable | None = None):
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(y_hat, y)

    def update_metrics(self, y_hat: Tensor, y: Tensor, stage: str) -> None:
        self.log_mean(f"{stage}/acc", accuracy(y_hat, y), y.shape[0])

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0) -> dict[str, Tensor]:
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        probs = F.softmax(self(X), dim=1)
        prob, pred = probs.max(dim=1)
        out = {"pred": pred, "prob": prob}
        if isinstance(batch, (tuple, list)) and len(batch) > 1:
            out["target"] = batch[1]
        return out


class Regressor(D2LModule):
    """Regression models: mean squared error by default (`nn.MSELoss`, as the book's concise code)."""

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(y_hat, y.reshape(y_hat.shape))


def load(ckpt_path, map_location: str | torch.device = "cpu") -> "D2LModule":
    """Rebuilds the model of a checkpoint written by the CLI (its class and init arguments are
    saved in the checkpoint) and loads its weights, in eval mode. `D2LModule.load_from_checkpoint`
    cannot: it would build the base class, not the saved subclass."""
    from pytorch_lightning.cli import instantiate_module

    ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    hparams = dict(ckpt.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    if "_class_path" not in hparams:
        raise ValueError(f"{ckpt_path} was not written by a d2l-lightning CLI run (no class path)")
    model = instantiate_module(D2LModule, hparams)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
